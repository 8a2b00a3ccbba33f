"""RGBT234 (Li et al., 2019) and RGBT210 (Li et al., 2017): their layouts, read and written."""
from typing import List

from rgbt.benchmarks.parsing import RGBTBenchmark, format_rows, read_boxes, write_lines

RGBT234_ATTRIBUTES = ('BC', 'CM', 'DEF', 'FM', 'HO', 'LI', 'LR', 'MB', 'NO', 'PO', 'SC', 'TC')


class RGBT234(RGBTBenchmark):
    """RGBT234: `<seq>/visible/*v.jpg`, `<seq>/infrared/*i.jpg`, per-modality `visible.txt` and
    `infrared.txt` (comma ltwh); 12 attributes in `attr_txt/` aligned with its SequencesName.txt."""
    name = 'rgbt234'
    attribute_names = RGBT234_ATTRIBUTES

    def sequence_names(self) -> List[str]:
        return self._names_from_file_or_folders(self.root / 'SequencesName.txt',
                                                self.root / 'attr_txt' / 'SequencesName.txt')

    box_files = ('visible.txt', 'infrared.txt')

    def _boxes(self, seq_dir):
        rgb_file, tir_file = (seq_dir / name for name in self.box_files)
        return read_boxes(rgb_file), read_boxes(tir_file), rgb_file

    @classmethod
    def write_annotations(cls, seq_dir, gt_rgb, gt_tir):
        for name, boxes in zip(cls.box_files + ('init.txt',), (gt_rgb, gt_tir, gt_rgb)):
            write_lines(seq_dir / name, format_rows(boxes, ','))


class RGBT210(RGBTBenchmark):
    """RGBT210: RGBT234's folders with one `init.txt` for both modalities; attributes from the
    234-line `attr_txt/` index, filtered to the 210 sequences."""
    name = 'rgbt210'
    attribute_names = RGBT234_ATTRIBUTES

    def sequence_names(self) -> List[str]:
        return self._names_from_file_or_folders(self.root / 'SequencesName.txt')

    def _boxes(self, seq_dir):
        init_file = seq_dir / 'init.txt'
        boxes = read_boxes(init_file)
        return boxes, boxes.copy(), init_file
