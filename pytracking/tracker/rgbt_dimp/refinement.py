"""IoU-Net box refinement (DiMP's gradient ascent on the predicted IoU), with the gradient with
respect to the boxes in closed form (AtomIoUNet.predict_iou_and_box_gradient), so that the same
steps run in PyTorch and, exported as one graph (`refine.onnx`), in ONNX Runtime or OpenVINO."""
from typing import Tuple

import torch
from torch import nn


def ascend_iou(bb_regressor: nn.Module, modulated, boxes: torch.Tensor, iterations: int, step_length: float,
               step_decay: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """`iterations` ascent steps on boxes (K, 4) xywh in patch pixels, each step scaled by the box's
    width and height: box += step * dIoU/dbox * (w, h, w, h), the step decaying by `step_decay`.
    Returns the final boxes and the IoUs of the last prediction (before the last step), as DiMP."""
    ious = boxes.new_zeros(boxes.shape[0])
    for _ in range(iterations):
        ious, grad = bb_regressor.predict_iou_and_box_gradient(modulated, boxes)
        boxes = boxes + step_length * grad * boxes[:, 2:].repeat(1, 2)
        step_length *= step_decay
    return boxes, ious


class BoxRefinement(nn.Module):
    """The whole refinement of one frame as one module (what `refine.onnx` holds): the modulation
    vectors (1, 256) x2, IoU features (1, C, H, W) x2 and start boxes (K, 4) -> refined boxes (K, 4)
    and IoUs (K,). The schedule (iterations, step length, decay) is fixed at construction."""

    def __init__(self, bb_regressor: nn.Module, iterations: int, step_length: float, step_decay: float):
        super().__init__()
        self.bb_regressor = bb_regressor
        self.iterations, self.step_length, self.step_decay = int(iterations), float(step_length), float(step_decay)

    def forward(self, modulation3, modulation4, iou_feat3, iou_feat4, boxes):
        modulated = self.bb_regressor.modulate((modulation3, modulation4), (iou_feat3, iou_feat4))
        return ascend_iou(self.bb_regressor, modulated, boxes, self.iterations, self.step_length, self.step_decay)
