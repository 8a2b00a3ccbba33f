"""Experiments of the CMD paper: each function yields (trackers, dataset) runs."""
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.tracker import Tracker

BENCHMARKS = ('gtot', 'rgbt234', 'lasher')


def all_benchmarks():
    """Teacher and student on GTOT, RGBT234 and LasHeR (Table 5)."""
    for dataset in BENCHMARKS:
        yield [Tracker('cmd_student', dataset), Tracker('cmd_teacher', dataset)], get_dataset(dataset, require_frames=True)


def synthetic():
    """Teacher and student on the synthetic test split (the embedded default)."""
    yield [Tracker('cmd_student', 'synthetic'), Tracker('cmd_teacher', 'synthetic')], \
        get_dataset('synthetic', require_frames=True)
