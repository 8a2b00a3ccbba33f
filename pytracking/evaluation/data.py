"""Sequences as the tracker and the evaluation see them (pytracking's Sequence, for RGB-T)."""
import os
from typing import List, Optional, Sequence as SequenceType, Union

import numpy as np

from rgbt.benchmarks import RGBTSequence


class Sequence:
    """An RGB-T sequence.

    Attributes:
        frames: list of (rgb_path, tir_path) pairs (empty for annotation-only data).
        ground_truth_rect: (N, 4) visible boxes [x, y, w, h] (the tracker is initialised with row 0).
        ground_truth_tir: (N, 4) thermal boxes (equal to the visible ones where the benchmark has one).
        target_visible: (N,) bool, False where the visible box is empty (LasHeR marks absence so).
        attributes: challenge attributes of the sequence.
    """

    def __init__(self, name: str, frames: List[tuple], dataset: str, ground_truth_rect: np.ndarray,
                 ground_truth_tir: Optional[np.ndarray] = None, attributes: SequenceType[str] = ()):
        self.name = name
        self.frames = frames
        self.dataset = dataset
        self.ground_truth_rect = ground_truth_rect
        self.ground_truth_tir = ground_truth_rect if ground_truth_tir is None else ground_truth_tir
        self.attributes = tuple(attributes)
        self.target_visible = (ground_truth_rect[:, 2] > 0) & (ground_truth_rect[:, 3] > 0)

    @classmethod
    def from_benchmark(cls, sequence: RGBTSequence) -> 'Sequence':
        frames = list(zip(sequence.rgb_frames, sequence.tir_frames))
        return cls(sequence.name, frames, sequence.dataset, sequence.gt_rgb, sequence.gt_tir, sequence.attributes)

    def __len__(self) -> int:
        return len(self.ground_truth_rect)

    def init_info(self) -> dict:
        return {'init_bbox': [float(v) for v in self.ground_truth_rect[0]]}

    def folder(self) -> Optional[str]:
        """The sequence's folder: the common folder of its first frame pair (None without frames)."""
        if not len(self.frames):
            return None
        return os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in self.frames[0]])

    def __repr__(self) -> str:
        return f"Sequence({self.dataset}/{self.name}, {len(self)} frames)"


class SequenceList(list):
    """A list of sequences that can also be indexed by name; slicing keeps the type."""

    def __getitem__(self, item: Union[int, str, slice]):
        if isinstance(item, str):
            for sequence in self:
                if sequence.name == item:
                    return sequence
            raise IndexError(f"no sequence named {item!r}")
        result = super().__getitem__(item)
        return SequenceList(result) if isinstance(item, slice) else result

    def __add__(self, other):
        return SequenceList(list.__add__(self, other))
