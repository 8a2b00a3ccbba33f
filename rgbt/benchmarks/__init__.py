"""On-disk layouts and annotation formats of the RGB-T benchmarks GTOT, RGBT234, RGBT210, LasHeR,
VTUAV and the synthetic benchmark: the one package that knows file names and box formats. Each
layout is one class in its own module (gtot, rgbt234, lasher, vtuav, synthetic) that owns its file
names in both directions: it reads the layout and writes it (the synthetic generator writes through
it); what they share is in `parsing`. Training datasets (ltr.dataset), the tracker's sequence lists
(pytracking.evaluation) and the evaluation (pytracking.analysis) all read benchmarks through it.
"""
from typing import Optional

from rgbt.benchmarks.gtot import GTOT, GTOT_ATTRIBUTES
from rgbt.benchmarks.lasher import LASHER_ATTRIBUTES, LasHeR
from rgbt.benchmarks.parsing import (DATA_SPECS, AnnotationError, PathLike, RGBTBenchmark, RGBTSequence,
                                     corners_to_ltwh, first_box_reason, format_rows, invalid_box_reason, read_boxes,
                                     read_flag, read_name_list, read_numbered_lines, read_text_lines, valid_box_mask,
                                     write_lines)
from rgbt.benchmarks.rgbt234 import RGBT210, RGBT234, RGBT234_ATTRIBUTES
from rgbt.benchmarks.synthetic import LAYOUTS, SYNTHETIC_META, Synthetic
from rgbt.benchmarks.vtuav import VTUAV, VTUAV_ANNOTATION_INTERVAL, annotated_frames

__all__ = ['AnnotationError', 'BENCHMARKS', 'DATA_SPECS', 'GTOT', 'GTOT_ATTRIBUTES', 'LASHER_ATTRIBUTES', 'LAYOUTS',
           'LasHeR', 'PathLike', 'RGBT210', 'RGBT234', 'RGBT234_ATTRIBUTES', 'RGBTBenchmark', 'RGBTSequence',
           'SPLIT_BENCHMARKS', 'SYNTHETIC_META', 'Synthetic', 'VTUAV', 'VTUAV_ANNOTATION_INTERVAL', 'annotated_frames',
           'corners_to_ltwh', 'first_box_reason', 'format_rows', 'invalid_box_reason', 'open_benchmark', 'read_boxes',
           'read_flag', 'read_name_list', 'read_numbered_lines', 'read_text_lines', 'valid_box_mask', 'write_lines']

BENCHMARKS = {'gtot': GTOT, 'rgbt234': RGBT234, 'rgbt210': RGBT210, 'lasher': LasHeR, 'synthetic': Synthetic,
              'vtuav': VTUAV}
SPLIT_BENCHMARKS = {'lasher': 'test', 'synthetic': 'test', 'vtuav': 'test_ST'}     # those with splits: the default


def open_benchmark(name: str, root: PathLike, split: Optional[str] = None) -> RGBTBenchmark:
    """A benchmark reader by name; `split` applies to LasHeR and the synthetic benchmark."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {sorted(BENCHMARKS)}")
    cls = BENCHMARKS[name]
    if name in SPLIT_BENCHMARKS:
        return cls(root, split or SPLIT_BENCHMARKS[name])
    if split not in (None, 'test'):
        raise ValueError(f"{name} has a single split; got split={split!r}")
    return cls(root)
