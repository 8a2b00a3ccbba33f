"""Registry of the evaluation data sets: `get_dataset('rgbt234')` -> SequenceList.

Names: gtot, rgbt234, rgbt210, lasher (the 245-sequence test split), lasher_train, vtuav (test_ST),
vtuav_lt (test_LT), vtuav_train (train_ST + train_LT), synthetic (the test split of the generated
benchmark, the embedded default), synthetic_train.
"""
from typing import Dict, Tuple

from pytracking.evaluation.data import Sequence, SequenceList
from pytracking.evaluation.environment import env_settings
from rgbt.benchmarks import SPLIT_BENCHMARKS, RGBTBenchmark, open_benchmark

# name -> (benchmark format, split, setting holding its root)
DATASETS: Dict[str, Tuple[str, str, str]] = {
    'gtot': ('gtot', 'test', 'gtot_path'),
    'rgbt234': ('rgbt234', 'test', 'rgbt234_path'),
    'rgbt210': ('rgbt210', 'test', 'rgbt210_path'),
    'lasher': ('lasher', 'test', 'lasher_path'),
    'lasher_train': ('lasher', 'train', 'lasher_path'),
    'vtuav': ('vtuav', 'test_ST', 'vtuav_path'),
    'vtuav_lt': ('vtuav', 'test_LT', 'vtuav_path'),
    'vtuav_train': ('vtuav', 'train', 'vtuav_path'),
    'synthetic': ('synthetic', 'test', 'synthetic_path'),
    'synthetic_train': ('synthetic', 'train', 'synthetic_path'),
}


def benchmark_of(name: str, root=None) -> RGBTBenchmark:
    """The benchmark reader of a registered data set, at `root` or at its configured path."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    fmt, split, setting = DATASETS[name]
    if root is None:
        root = env_settings().require_dir(setting)
    return open_benchmark(fmt, root, split if fmt in SPLIT_BENCHMARKS else None)


def evaluation_datasets():
    """The registered data sets a tracker is scored on (training splits excluded)."""
    return tuple(name for name in DATASETS if not name.endswith('_train'))


def get_dataset(*names: str, root=None, require_frames: bool = False) -> SequenceList:
    """Sequences of one or more registered data sets (annotations always; frames when present)."""
    sequences = SequenceList()
    for name in names:
        benchmark = benchmark_of(name, root)
        sequences.extend(Sequence.from_benchmark(s) for s in benchmark.sequences(require_frames=require_frames))
    return sequences
