"""GTOT (Li et al., 2016): its layout, read and written."""
from typing import List

import numpy as np

from rgbt.benchmarks.parsing import RGBTBenchmark, corners_to_ltwh, format_rows, read_boxes, write_lines

GTOT_ATTRIBUTES = ('OCC', 'LSV', 'FM', 'LI', 'TC', 'SO', 'DEF')


class GTOT(RGBTBenchmark):
    """GTOT: `<seq>/v/`, `<seq>/i/` (png or bmp), `groundTruth_v.txt` / `groundTruth_i.txt` with
    corners `x1 y1 x2 y2`. Attributes (OCC, LSV, FM, LI, TC, SO, DEF) are read from an optional
    RGBT234-style `attr_txt/` folder; the official MATLAB `AttrMat.mat` is not parsed."""
    name = 'gtot'
    attribute_names = GTOT_ATTRIBUTES
    frame_dirs = ('v', 'i')

    def sequence_names(self) -> List[str]:
        return self._names_from_file_or_folders(self.root / 'SequencesName.txt')

    box_files = ('groundTruth_v.txt', 'groundTruth_i.txt')

    def _boxes(self, seq_dir):
        rgb_file, tir_file = (seq_dir / name for name in self.box_files)
        return corners_to_ltwh(read_boxes(rgb_file)), corners_to_ltwh(read_boxes(tir_file)), rgb_file

    @classmethod
    def write_annotations(cls, seq_dir, gt_rgb, gt_tir):
        for name, boxes in zip(cls.box_files, (gt_rgb, gt_tir)):
            corners = np.concatenate((boxes[:, :2], boxes[:, :2] + boxes[:, 2:]), axis=1)
            (seq_dir / name).write_text('\n'.join(format_rows(corners, ' ')) + '\n')
        write_lines(seq_dir / 'init.txt', format_rows(gt_rgb, '\t'))

    @classmethod
    def write_split_index(cls, root, split, names, attributes):
        super().write_split_index(root, split, names, attributes)
        (cls.split_folder(root, split) / 'SequencesName.txt').write_text('\n'.join(names))
