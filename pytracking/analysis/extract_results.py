"""Evaluate result folders on a registered benchmark: the API behind run_analysis.py."""
import os
from typing import Dict, Optional

from pytracking.analysis.evaluation import BenchmarkEvaluation, evaluate
from pytracking.analysis.results import load_tracker_results
from pytracking.evaluation.datasets import DATASETS, benchmark_of


def evaluate_folders(dataset: str, results: Dict[str, os.PathLike], dataset_root: Optional[os.PathLike] = None,
                     prefixes: Optional[Dict[str, str]] = None, on_problem: str = 'fail') -> BenchmarkEvaluation:
    """Scores result folders (name -> folder) on a registered data set, reading annotations only.

    Args:
        dataset: a name of pytracking.evaluation.datasets.DATASETS (lasher = its 245-sequence test split).
        dataset_root: overrides the configured data-set path.
        prefixes: forced file-name prefixes per tracker (others are detected).
        on_problem: 'fail', 'exclude' or 'truncate' (see evaluation.evaluate).
    """
    benchmark = benchmark_of(dataset, dataset_root)
    sequences = benchmark.sequences(annotations_only=True)
    lengths = {s.name: len(s) for s in sequences}
    prefixes = prefixes or {}
    loaded = [load_tracker_results(name, folder, lengths, prefixes.get(name)) for name, folder in results.items()]
    protocol_name = getattr(benchmark, 'protocol', DATASETS[dataset][0])
    return evaluate(protocol_name, sequences, loaded, on_problem=on_problem)
