"""VTUAV (Zhang et al., CVPR 2022): its layout, read and written."""
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ltr.data.image_loader import list_frames
from rgbt.benchmarks.parsing import (AnnotationError, PathLike, RGBTBenchmark, read_attribute_columns, format_rows,
                                     read_boxes, read_text_lines, write_lines)

VTUAV_ANNOTATION_INTERVAL = 10


class VTUAV(RGBTBenchmark):
    """VTUAV (Zhang et al., CVPR 2022): split folders `train_ST/`, `train_LT/`, `test_ST/`, `test_LT/`
    of sequences with `rgb/` and `ir/` frames (`ir_gray/` in the distributed demo sequence), named
    by 6-digit frame number, and `rgb.txt` / `ir.txt` boxes (ltwh) for every 10th frame only (frames
    0, 10, 20, ...). The sparse annotation is kept honest: gt_rgb / gt_tir have one row per frame,
    NaN where no box was annotated (`annotated_frames` says which); the tracker still runs on every
    frame, and the 'vtuav' protocol scores only the annotated ones.

    `absence.label`, where distributed, holds one 0/1 value per annotated row (1: target absent, the
    GOT-10k convention; our assumption, the format is not documented); those boxes become NaN too.

    Args:
        split: 'test_ST' (default), 'test_LT', 'train_ST', 'train_LT' or 'train' (both training splits).
    """
    name = 'vtuav'
    SPLITS = {'test_ST': ('test_ST',), 'test_LT': ('test_LT',), 'train_ST': ('train_ST',),
              'train_LT': ('train_LT',), 'train': ('train_ST', 'train_LT')}
    TIR_DIRS = ('ir', 'ir_gray')
    SYNTHETIC_SPLITS = {'train': 'train_ST', 'test': 'test_ST'}     # where the generator writes its splits
    box_files = ('rgb.txt', 'ir.txt')
    frame_dirs = ('rgb', 'ir')
    frame_names = ('{:06d}.jpg', '{:06d}.jpg', 0)

    def __init__(self, root: PathLike, split: str = 'test_ST'):
        super().__init__(root)
        if split not in self.SPLITS:
            raise ValueError(f"VTUAV split must be one of {', '.join(self.SPLITS)}, got {split!r}")
        self.split = split
        self._folders = {}

    def sequence_names(self) -> List[str]:
        names = []
        for folder in self.SPLITS[self.split]:
            split_dir = self.root / folder
            if not split_dir.is_dir():
                raise FileNotFoundError(f"VTUAV split folder {split_dir} does not exist (VTUAV_PATH is the "
                                        f"folder holding {', '.join(self.SPLITS[self.split])})")
            for seq_dir in sorted(d for d in split_dir.iterdir() if (d / 'rgb.txt').is_file() or (d / 'rgb').is_dir()):
                self._folders[seq_dir.name] = seq_dir
                names.append(seq_dir.name)
        return names

    def sequence_dir(self, name: str) -> Path:
        if name not in self._folders:
            self.sequence_names()
        return self._folders.get(name, self.root / name)

    def _read_attributes(self) -> Dict[str, Tuple[str, ...]]:
        """Optional RGBT234-style `attr_txt/` in each split folder (one 0/1 file per attribute, aligned
        with its SequencesName.txt), as for GTOT: VTUAV's own attribute files are not read, their
        format not being documented in our sources."""
        result = {}
        for folder in self.SPLITS[self.split]:
            attr_dir = self.root / folder / 'attr_txt'
            if attr_dir.is_dir():
                names = sorted(p.stem for p in attr_dir.glob('*.txt') if p.stem != 'SequencesName')
                result.update(read_attribute_columns(attr_dir, attr_dir / 'SequencesName.txt', names))
        return result

    def frame_dirs_of(self, seq_dir: Path) -> Tuple[str, str]:
        tir = next((d for d in self.TIR_DIRS if (seq_dir / d).is_dir()), self.TIR_DIRS[0])
        return 'rgb', tir

    def num_frames(self, seq_dir: Path, annotated_rows: int) -> int:
        """Frames in the RGB folder; without frames, the last annotated frame + 1."""
        rgb_dir = seq_dir / 'rgb'
        if rgb_dir.is_dir():
            return len(list_frames(rgb_dir))
        return (annotated_rows - 1) * VTUAV_ANNOTATION_INTERVAL + 1

    def _boxes(self, seq_dir):
        rgb_file, tir_file = (seq_dir / name for name in self.box_files)
        sparse_rgb, sparse_tir = read_boxes(rgb_file), read_boxes(tir_file)
        if len(sparse_rgb) != len(sparse_tir):
            raise AnnotationError(f"{seq_dir}: {len(sparse_rgb)} boxes in rgb.txt but {len(sparse_tir)} in ir.txt")
        absent = self._absence(seq_dir, len(sparse_rgb))
        sparse_rgb[absent], sparse_tir[absent] = np.nan, np.nan
        frames = self.num_frames(seq_dir, len(sparse_rgb))
        needed = (len(sparse_rgb) - 1) * VTUAV_ANNOTATION_INTERVAL + 1
        if frames < needed:
            raise AnnotationError(f"{rgb_file}: {len(sparse_rgb)} boxes (every {VTUAV_ANNOTATION_INTERVAL}th frame) "
                                  f"need at least {needed} frames, {seq_dir / 'rgb'} has {frames}")
        gt_rgb, gt_tir = np.full((frames, 4), np.nan), np.full((frames, 4), np.nan)
        annotated = annotated_frames(len(sparse_rgb))
        gt_rgb[annotated], gt_tir[annotated] = sparse_rgb, sparse_tir
        return gt_rgb, gt_tir, rgb_file

    @classmethod
    def write_annotations(cls, seq_dir, gt_rgb, gt_tir):
        # Every 10th frame only, space-separated (as the distributed files).
        annotated = slice(0, None, VTUAV_ANNOTATION_INTERVAL)
        for name, boxes in zip(cls.box_files, (gt_rgb, gt_tir)):
            write_lines(seq_dir / name, format_rows(boxes[annotated], ' '))

    @classmethod
    def split_folder(cls, root, split):
        return Path(root) / cls.SYNTHETIC_SPLITS[split]

    @classmethod
    def write_split_index(cls, root, split, names, attributes):
        """Nothing: VTUAV's folders are its sequence list, and no attribute files are written."""

    @classmethod
    def generated(cls, root, split):
        return cls(root, cls.SYNTHETIC_SPLITS[split])

    @staticmethod
    def _absence(seq_dir: Path, rows: int) -> np.ndarray:
        path = seq_dir / 'absence.label'
        if not path.is_file():
            return np.zeros(rows, bool)
        values = read_text_lines(path)
        if len(values) != rows or any(v.strip() not in ('0', '1') for v in values):
            raise AnnotationError(f"{path}: expected {rows} lines of 0 or 1 (one per annotated frame), "
                                  f"got {len(values)} lines")
        return np.array([v.strip() == '1' for v in values])


def annotated_frames(rows: int) -> np.ndarray:
    """Indices of the frames VTUAV annotates, for `rows` annotation rows: 0, 10, 20, ..."""
    return np.arange(rows) * VTUAV_ANNOTATION_INTERVAL
