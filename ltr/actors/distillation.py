"""The CMD distillation actor: a frozen teacher guides the student through SCFD, MPSD and HFRD
(CMD Eq. 14: L = alpha (L_SCFD + L_MPSD) + beta L_HFRD + L_original).

The teacher is held outside `actor.net`: it is never optimised or checkpointed, stays in eval mode
(BatchNorm statistics frozen) and runs under no_grad. `actor.net` is a CMDTrainingNet holding the
student and the training-only adapters (ABF chains); the checkpoint's `net` is the student alone, so
a training checkpoint is also a tracking network file.
"""
from typing import Dict, Optional

import torch
from torch import nn

from ltr.actors.base_actor import BaseActor, unwrap
from ltr.actors.tracking import DIMP_LOSS_WEIGHT, dimp_loss, dimp_objective, net_inputs
from rgbt.distill import CMDDistillLoss


class CMDTrainingNet(nn.Module):
    """Student + distillation adapters in one module, so that one forward (and one DDP wrapper)
    covers everything that is trained."""

    def __init__(self, student: nn.Module, distill: CMDDistillLoss):
        super().__init__()
        self.student = student
        self.distill = distill

    def forward(self, data: dict, teacher_out):
        teacher_scores, _, teacher_feats = teacher_out
        scores, iou_pred, feats = self.student(*net_inputs(data), return_features=True)
        distill_loss, terms = self.distill(feats, teacher_feats, scores, teacher_scores, data['test_label'])
        return scores, iou_pred, distill_loss, terms


class CMDDistillActor(BaseActor):
    """Args:
        net: CMDTrainingNet (student + adapters).
        teacher: the trained teacher RGBTDiMPnet; frozen here.
    """

    def __init__(self, net: CMDTrainingNet, teacher: nn.Module, objective: Optional[Dict[str, nn.Module]] = None,
                 loss_weight: Optional[Dict[str, float]] = None):
        super().__init__(net, objective or dimp_objective())
        self.teacher = teacher.eval()
        self.teacher.requires_grad_(False)
        self.loss_weight = dict(DIMP_LOSS_WEIGHT, **(loss_weight or {}))

    def to(self, device):
        self.net.to(device)
        self.teacher.to(device)
        return self

    def train(self, mode: bool = True) -> None:
        self.net.train(mode)
        self.teacher.eval()                         # never train mode: its BN statistics stay fixed

    def __call__(self, data: dict):
        with torch.no_grad():
            teacher_out = self.teacher(*net_inputs(data), return_features=True)
        scores, iou_pred, distill_loss, terms = self.net(data, teacher_out)
        original, stats = dimp_loss(self.objective, self.loss_weight, scores, iou_pred, data)
        loss = original + distill_loss
        distill_value = distill_loss.item() if torch.is_tensor(distill_loss) else float(distill_loss)
        stats = {'Loss/total': loss.item(), 'Loss/original': original.item(), 'Loss/distill': distill_value,
                 **{f'Loss/{name}': value.item() for name, value in terms.items()},
                 **{k: v for k, v in stats.items() if k != 'Loss/total'}}
        return loss, stats

    def checkpoint_state(self) -> dict:
        training_net = unwrap(self.net)
        student = training_net.student
        state = {'net': student.state_dict(), 'net_type': type(student).__name__,
                 'adapters': training_net.distill.state_dict()}
        if getattr(student, 'constructor', None) is not None:
            state['constructor'] = student.constructor.to_dict()
        return state

    def load_checkpoint_state(self, checkpoint: dict) -> None:
        training_net = unwrap(self.net)
        training_net.student.load_state_dict(checkpoint['net'])
        training_net.distill.load_state_dict(checkpoint['adapters'])
