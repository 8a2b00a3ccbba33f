"""Score raw tracking results on an RGB-T benchmark with its exact protocol.

    python pytracking/run_analysis.py --dataset lasher --results APFNet=/path/APFNet --results Ours=/path/ours \
        [--dataset-root PATH] [--tracker cmd_student --param lasher [--runid 1]] [--prefix NAME=PFX] \
        [--on-problem {fail,exclude,truncate}] [--json FILE] [--csv FILE] [--plots DIR]
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from pytracking.analysis.evaluation import POLICIES  # noqa: E402
from pytracking.analysis.extract_results import evaluate_folders  # noqa: E402
from pytracking.evaluation.environment import tracker_results_dir  # noqa: E402
from pytracking.analysis.plot_results import plot_results, print_results, write_csv, write_json  # noqa: E402
from pytracking.analysis.results import ResultFileError, parse_name_value  # noqa: E402
from pytracking.evaluation.datasets import evaluation_datasets  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Score raw tracking results on an RGB-T benchmark.')
    parser.add_argument('--dataset', required=True, choices=evaluation_datasets())
    parser.add_argument('--dataset-root', help='data-set folder (overrides the configured path); annotations suffice')
    parser.add_argument('--results', action='append', default=[], metavar='NAME=DIR',
                        type=lambda t: parse_name_value(t, '--results'), help='a result folder (repeatable)')
    parser.add_argument('--tracker', action='append', default=[], help='pytracking tracker name (repeatable)')
    parser.add_argument('--param', action='append', default=[], help='parameter name, one per --tracker')
    parser.add_argument('--runid', action='append', default=[], type=int, help='run id, one per --tracker')
    parser.add_argument('--prefix', action='append', default=[], metavar='NAME=PFX',
                        type=lambda t: parse_name_value(t, '--prefix'), help='force a file-name prefix')
    parser.add_argument('--on-problem', default='fail', choices=POLICIES,
                        help='missing/empty/short result files: fail (default), exclude those sequences, '
                             'or truncate (score short files on the frames present, as the rgbt toolkit)')
    parser.add_argument('--json', help='write {"dataset", "trackers": {NAME: {PR, SR[, NPR]}}} (percent)')
    parser.add_argument('--csv', help='write the table as CSV')
    parser.add_argument('--plots', help='write precision/success plots (PDF and PNG) to this folder')
    parser.add_argument('--no-attribute-plots', action='store_true', help='skip the per-attribute plots')
    args = parser.parse_args(argv)
    if len(args.param) != len(args.tracker) or (args.runid and len(args.runid) != len(args.tracker)):
        parser.error('give one --param (and, if used, one --runid) per --tracker')
    if not args.results and not args.tracker:
        parser.error('nothing to evaluate: give --results NAME=DIR or --tracker/--param')
    return args


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    args = parse_args(argv)
    folders = dict(args.results)
    for index, (tracker, param) in enumerate(zip(args.tracker, args.param)):
        runid = args.runid[index] if args.runid else None
        name = f"{tracker}_{param}" + (f"_{runid:03d}" if runid is not None else '')
        folders[name] = tracker_results_dir(tracker, param, runid)
    try:
        evaluation = evaluate_folders(args.dataset, folders, args.dataset_root, dict(args.prefix), args.on_problem)
    except (ResultFileError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print_results(evaluation)
    if args.json:
        write_json(evaluation, args.json)
    if args.csv:
        write_csv(evaluation, args.csv)
    if args.plots:
        written = plot_results(evaluation, args.plots, per_attribute=not args.no_attribute_plots)
        print(f"plots: {len(written)} PNG (+PDF) in {args.plots}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
