"""Run a named experiment: a list of (tracker, parameter, data set) runs defined in
pytracking/experiments/<module>.py as a function returning (trackers, dataset).

    python pytracking/run_experiment.py cmd all_benchmarks [--threads N] [--num_gpus G]
"""
import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from pytracking.evaluation.running import run_dataset  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Run an experiment of pytracking/experiments.')
    parser.add_argument('experiment_module')
    parser.add_argument('experiment_name')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--num_gpus', type=int, default=0)
    parser.add_argument('--debug', type=int, default=0)
    args = parser.parse_args(argv)
    module = importlib.import_module(f"pytracking.experiments.{args.experiment_module}")
    failed = 0
    for trackers, dataset in getattr(module, args.experiment_name)():
        statuses = run_dataset(dataset, trackers, debug=args.debug, threads=args.threads, num_gpus=args.num_gpus)
        failed += sum(s['status'] == 'failed' for s in statuses)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
