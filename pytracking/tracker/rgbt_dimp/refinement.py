"""IoU-Net box refinement (DiMP's gradient ascent on the predicted IoU), two ways that compute the
same boxes (within 1e-5 px in float32): `ascend_iou`, with the gradient with respect to the boxes in
closed form (AtomIoUNet.predict_iou_and_box_gradient), which every backend runs (ONNX Runtime as the
exported graph `refine.onnx`, the others in PyTorch); and `ascend_iou_autograd`, DiMP's
own by autograd, kept as the reference it is checked and timed against (docs/speed.md)."""
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


def ascend_iou_autograd(bb_regressor: nn.Module, modulated, boxes: torch.Tensor, iterations: int,
                        step_length: float, step_decay: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The same ascent as ascend_iou, its box gradient by autograd (DiMP's implementation)."""
    boxes = boxes.view(1, -1, 4)
    ious = boxes.new_zeros(1, boxes.shape[1])
    for _ in range(iterations):
        start = boxes.detach().requires_grad_(True)
        with torch.enable_grad():
            ious = bb_regressor.predict_iou_modulated(modulated, start)
            (grad,) = torch.autograd.grad(ious.sum(), start)
        boxes = (start + step_length * grad * start[:, :, 2:].repeat(1, 1, 2)).detach()
        step_length *= step_decay
    return boxes.view(-1, 4), ious.detach().view(-1)


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
