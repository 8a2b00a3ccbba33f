"""Evaluation of RGB-T tracking results with each benchmark's exact protocol."""
from pytracking.analysis.evaluation import BenchmarkEvaluation, evaluate
from pytracking.analysis.extract_results import evaluate_folders
from pytracking.evaluation.environment import tracker_results_dir
from pytracking.analysis.plot_results import format_table, plot_results, print_results, write_csv, write_json
from pytracking.analysis.protocols import PROTOCOLS, matlab_colon
from pytracking.analysis.results import ResultFileError, load_tracker_results, read_result_file
