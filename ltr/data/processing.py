"""DiMP training processing for RGB-T samples (DiMP paper Sec. 4; pytracking's DiMPProcessing).

For each frame one jittered box and one square crop are drawn and applied to both modalities, so
the RGB and TIR crops show the same region; the box is mapped into the crop, the test frames get
IoU-Net proposals with their IoU, and Gaussian classification labels are built on the score grid.

Output (per sample, before the loader stacks sequences along dim 1):
    train_rgb, train_tir, test_rgb, test_tir: (frames, 3, output_sz, output_sz) float
    train_anno, test_anno: (frames, 4) boxes [x, y, w, h] in crop pixels (visible ground truth)
    test_proposals: (frames, P, 4); proposal_iou: (frames, P) in [-1, 1] (2 IoU - 1)
    train_label, test_label: (frames, 19, 19) for DiMP's 18-cell features and 4x4 filter
"""
from typing import Dict, Optional

import numpy as np
import torch

from ltr.data import processing_utils as prutils
from ltr.data.transforms import ToTensorAndJitter

DEFAULT_PROPOSALS = {'min_iou': 0.1, 'boxes_per_frame': 8, 'sigma_factor': [0.01, 0.05, 0.1, 0.2, 0.3]}
DEFAULT_LABELS = {'feature_sz': 18, 'sigma_factor': 0.05, 'kernel_sz': 4}
# DiMP's jitter of the crop centre and scale (train frames, test frames); the CMD TrainConfig reads these.
DIMP_CENTER_JITTER = {'train': 3.0, 'test': 4.5}
DIMP_SCALE_JITTER = {'train': 0.25, 'test': 0.5}


class RGBTDiMPProcessing:
    """Args:
        search_area_factor: crop side = factor * sqrt(w h) of the jittered box.
        output_sz: crop size in pixels.
        center_jitter_factor, scale_jitter_factor: {'train': ..., 'test': ...}.
        proposal_params: min_iou, boxes_per_frame, sigma_factor (list or float).
        label_function_params: feature_sz, sigma_factor, kernel_sz.
        joint_transform: applied to the full frames of a sample (e.g. ToGrayscale, flips).
        transform: crop -> tensor (ToTensorAndJitter); drawn per crop, so per modality.
        modality_dropout: probability that one modality of a test frame is dropped (0: off, the
            paper's recipe). Not in the paper: training for tracking when a camera fails.
        modality_dropout_mode: 'blank' (a black image) or 'hold' (that modality's last train frame,
            what a stalled camera gives).
    """

    def __init__(self, search_area_factor: float = 5.0, output_sz: int = 288,
                 center_jitter_factor: Optional[Dict[str, float]] = None,
                 scale_jitter_factor: Optional[Dict[str, float]] = None,
                 proposal_params: Optional[dict] = None, label_function_params: Optional[dict] = None,
                 joint_transform=None, transform=None, modality_dropout: float = 0.0,
                 modality_dropout_mode: str = 'blank'):
        self.search_area_factor = search_area_factor
        self.output_sz = output_sz
        self.center_jitter_factor = dict(center_jitter_factor or DIMP_CENTER_JITTER)
        self.scale_jitter_factor = dict(scale_jitter_factor or DIMP_SCALE_JITTER)
        self.proposal_params = dict(DEFAULT_PROPOSALS, **(proposal_params or {}))
        self.label_function_params = dict(DEFAULT_LABELS, **(label_function_params or {}))
        self.joint_transform = joint_transform
        self.transform = transform or ToTensorAndJitter(0.2)
        if not 0 <= modality_dropout <= 1 or modality_dropout_mode not in ('blank', 'hold'):
            raise ValueError(f"modality_dropout must be in [0, 1] and its mode 'blank' or 'hold', got "
                             f"{modality_dropout}, {modality_dropout_mode!r}")
        self.modality_dropout, self.modality_dropout_mode = modality_dropout, modality_dropout_mode

    def drop_modalities(self, data: dict, rng) -> dict:
        """Each test frame loses one modality (RGB or TIR, equally likely) with probability
        `modality_dropout`; returns the new data and leaves the input untouched."""
        if self.modality_dropout <= 0:
            return data
        test = {key: list(data[f'test_{key}']) for key in ('rgb', 'tir')}
        for index in range(len(test['rgb'])):
            if rng.random() >= self.modality_dropout:
                continue
            key = ('rgb', 'tir')[int(rng.integers(2))]
            held = data[f'train_{key}'][-1]
            test[key][index] = held if self.modality_dropout_mode == 'hold' else np.zeros_like(test[key][index])
        return dict(data, test_rgb=test['rgb'], test_tir=test['tir'])

    def _crops(self, rgb, tir, boxes, mode: str, rng):
        out_rgb, out_tir, out_boxes = [], [], []
        for frame_rgb, frame_tir, box in zip(rgb, tir, boxes):
            jittered = prutils.jittered_box(box, self.scale_jitter_factor[mode], self.center_jitter_factor[mode], rng)
            x1, y1, side = prutils.crop_geometry(jittered, self.search_area_factor)
            out_rgb.append(self.transform(prutils.crop_and_resize(frame_rgb, x1, y1, side, self.output_sz), rng))
            out_tir.append(self.transform(prutils.crop_and_resize(frame_tir, x1, y1, side, self.output_sz), rng))
            out_boxes.append(prutils.box_in_crop(box, x1, y1, side, self.output_sz))
        return torch.stack(out_rgb), torch.stack(out_tir), torch.stack(out_boxes)

    def _proposals(self, boxes: torch.Tensor, rng):
        proposals, ious = [], []
        for box in boxes:
            pairs = [prutils.perturb_box(box, self.proposal_params['min_iou'], self.proposal_params['sigma_factor'], rng)
                     for _ in range(self.proposal_params['boxes_per_frame'])]
            proposals.append(torch.stack([p for p, _ in pairs]))
            ious.append(torch.stack([i for _, i in pairs]))
        return torch.stack(proposals), torch.stack(ious) * 2 - 1

    def _labels(self, boxes: torch.Tensor) -> torch.Tensor:
        params = self.label_function_params
        return prutils.gaussian_label_function(boxes, params['sigma_factor'], params['kernel_sz'],
                                               params['feature_sz'], self.output_sz)

    def __call__(self, data: dict, rng: np.random.Generator) -> dict:
        """`data` holds train_rgb/train_tir/test_rgb/test_tir (lists of HxWx3 uint8) and
        train_anno/test_anno (lists of (4,) boxes)."""
        if self.joint_transform is not None:
            n_train = len(data['train_rgb'])
            rgb, tir, boxes = self.joint_transform(data['train_rgb'] + data['test_rgb'], data['train_tir'] + data['test_tir'],
                                                   list(data['train_anno']) + list(data['test_anno']), rng)
            data = dict(data, train_rgb=rgb[:n_train], test_rgb=rgb[n_train:], train_tir=tir[:n_train],
                        test_tir=tir[n_train:], train_anno=boxes[:n_train], test_anno=boxes[n_train:])
        data = self.drop_modalities(data, rng)
        out = {key: value for key, value in data.items() if not key.startswith(('train_', 'test_'))}
        for mode in ('train', 'test'):
            rgb, tir, boxes = self._crops(data[f'{mode}_rgb'], data[f'{mode}_tir'], data[f'{mode}_anno'], mode, rng)
            out[f'{mode}_rgb'], out[f'{mode}_tir'], out[f'{mode}_anno'] = rgb, tir, boxes
            out[f'{mode}_label'] = self._labels(boxes)
        out['test_proposals'], out['proposal_iou'] = self._proposals(out['test_anno'], rng)
        return out
