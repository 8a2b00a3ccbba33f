"""Run a named experiment: a list of (tracker, parameter, data set) runs defined in
pytracking/experiments/<module>.py as a function returning (trackers, dataset).

    python pytracking/run_experiment.py cmd all_benchmarks [--threads N] [--num_gpus G]
"""
import argparse
import importlib
import inspect
import os
import pkgutil
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from pytracking import experiments as experiments_package  # noqa: E402
from pytracking.evaluation.running import ResultsFolderError, run_dataset  # noqa: E402


def experiments_of(module) -> dict:
    """The experiments a module defines: its own public functions (not what it imports, not builtins)."""
    return {name: value for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith('_')}


def find_experiment(module_name: str, experiment_name: str):
    """The experiment function, or SystemExit naming what exists (a module name is a plain module of
    pytracking/experiments, never a dotted path)."""
    modules = sorted(m.name for m in pkgutil.iter_modules(experiments_package.__path__))
    if module_name not in modules:
        raise SystemExit(f"no experiment module {module_name!r} in pytracking/experiments (there: {', '.join(modules)})")
    experiments = experiments_of(importlib.import_module(f"pytracking.experiments.{module_name}"))
    if experiment_name not in experiments:
        raise SystemExit(f"no experiment {experiment_name!r} in pytracking/experiments/{module_name}.py "
                         f"(there: {', '.join(sorted(experiments))})")
    return experiments[experiment_name]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Run an experiment of pytracking/experiments.')
    parser.add_argument('experiment_module')
    parser.add_argument('experiment_name')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--num_gpus', type=int, default=0)
    parser.add_argument('--debug', type=int, default=0)
    args = parser.parse_args(argv)
    experiment = find_experiment(args.experiment_module, args.experiment_name)
    failed = 0
    try:
        for trackers, dataset in experiment():
            statuses = run_dataset(dataset, trackers, debug=args.debug, threads=args.threads, num_gpus=args.num_gpus)
            failed += sum(s['status'] == 'failed' for s in statuses)
    except (ValueError, FileNotFoundError, ResultsFolderError) as err:   # a data set, a list file, a folder
        raise SystemExit(f"{args.experiment_module}.{args.experiment_name}: {err}") from None
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
