"""LasHeR (Li et al., 2021): its layout, read and written."""
from pathlib import Path
from typing import List

from rgbt.benchmarks.parsing import (DATA_SPECS, AnnotationError, PathLike, RGBTBenchmark, format_rows, read_boxes,
                                     read_flag, read_name_list, read_text_lines, write_lines)

LASHER_ATTRIBUTES = ('NO', 'PO', 'TO', 'HO', 'MB', 'LI', 'HI', 'AIV', 'LR', 'DEF', 'BC', 'SA', 'CM', 'TC', 'FL',
                     'OV', 'FM', 'SV', 'ARC')


class LasHeR(RGBTBenchmark):
    """LasHeR: `trainingset/<seq>/`, `testingset/<seq>/` with `trainingsetList.txt` and
    `testingsetList.txt` (as distributed), or one flat folder of sequences. Each sequence has
    `visible/`, `infrared/` (irregular names, sorted numerically) and `init.txt`, the single ground
    truth of both modalities (`visible.txt` is missing in some sequences). Zero boxes mark an
    absent target. Attributes: `AttriSeqsTxt/<seq>.txt` (19 flags).

    Args:
        split: 'test' (245, default for evaluation), 'train' (979) or 'all'.
    """
    name = 'lasher'
    attribute_names = LASHER_ATTRIBUTES
    SPLITS = {'train': ('trainingset', 'trainingsetList.txt', 'lasher_train.txt'),
              'test': ('testingset', 'testingsetList.txt', 'lasher_test.txt')}

    def __init__(self, root: PathLike, split: str = 'test'):
        super().__init__(root)
        if split not in ('train', 'test', 'all'):
            raise ValueError(f"LasHeR split must be 'train', 'test' or 'all', got {split!r}")
        self.split = split
        self._folders = {}

    def _split_names(self, split: str) -> List[str]:
        folder, list_name, packaged = self.SPLITS[split]
        for list_file in (self.root / list_name, self.root / folder / list_name, DATA_SPECS / packaged):
            if list_file.is_file():
                names = read_name_list(list_file)
                break
        base = self.root / folder if (self.root / folder).is_dir() else self.root
        for name in names:
            self._folders[name] = base / name
        return names

    def sequence_names(self) -> List[str]:
        splits = ('train', 'test') if self.split == 'all' else (self.split,)
        return [name for split in splits for name in self._split_names(split)]

    def sequence_dir(self, name: str) -> Path:
        if name not in self._folders:
            self.sequence_names()
        return self._folders.get(name, self.root / name)

    def _boxes(self, seq_dir):
        for candidate in self.box_files[:2]:
            gt_file = seq_dir / candidate
            if gt_file.is_file():
                boxes = read_boxes(gt_file)
                return boxes, boxes.copy(), gt_file
        raise FileNotFoundError(f"{seq_dir}: neither init.txt nor visible.txt exists")

    # One ground truth for both modalities, written three times as in the distributed data set.
    box_files = ('init.txt', 'visible.txt', 'infrared.txt')
    frame_names = ('v{:06d}.jpg', 'i{:06d}.jpg', 0)

    @classmethod
    def write_annotations(cls, seq_dir, gt_rgb, gt_tir):
        for name in cls.box_files:
            write_lines(seq_dir / name, format_rows(gt_rgb, ','))

    @classmethod
    def split_folder(cls, root, split):
        return Path(root) / cls.SPLITS[split][0]

    @classmethod
    def write_split_index(cls, root, split, names, attributes):
        root = Path(root)
        write_lines(root / cls.SPLITS[split][1], names)
        attr_dir = root / 'AttriSeqsTxt'
        attr_dir.mkdir(parents=True, exist_ok=True)
        (root / 'Attributes_order.txt').write_text(', '.join(LASHER_ATTRIBUTES))
        for name in names:
            (attr_dir / f"{name}.txt").write_text(','.join('1' if a in attributes[name] else '0'
                                                           for a in LASHER_ATTRIBUTES))

    @classmethod
    def generated(cls, root, split):
        return cls(root, split)

    def _read_attributes(self):
        attr_dir = self.root / 'AttriSeqsTxt'
        if not attr_dir.is_dir():
            return {}
        order_file = self.root / 'Attributes_order.txt'
        order = [a.strip() for a in read_text_lines(order_file)[0].split(',')] if order_file.is_file() \
            else list(LASHER_ATTRIBUTES)
        result = {}
        for path in attr_dir.glob('*.txt'):
            flags = read_text_lines(path)[0].split(',') if path.stat().st_size else []
            if len(flags) != len(order):
                raise AnnotationError(f"{path}: {len(flags)} attribute flags, expected {len(order)}")
            result[path.stem] = tuple(a for a, f in zip(order, flags) if read_flag(f.strip(), path, 1))
        return result
