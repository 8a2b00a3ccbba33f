"""The RGB-T DiMP actor: DiMP's training loss (L_original of CMD Eq. 14) for teacher and students."""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ltr.actors.base_actor import BaseActor
from ltr.models.loss.target_classification import LBHinge

DIMP_LOSS_WEIGHT = {'iou': 1.0, 'test_clf': 100.0, 'test_init_clf': 100.0, 'test_iter_clf': 400.0}


DIMP_HINGE_THRESHOLD = 0.05      # LBHinge's threshold in DiMP's settings


def dimp_objective(hinge_threshold: float = DIMP_HINGE_THRESHOLD) -> Dict[str, nn.Module]:
    return {'iou': nn.MSELoss(), 'test_clf': LBHinge(threshold=hinge_threshold)}


def net_inputs(data: dict):
    """The RGB-T net's positional inputs from a batch."""
    return (data['train_rgb'], data['train_tir'], data['test_rgb'], data['test_tir'], data['train_anno'],
            data['test_proposals'])


def dimp_loss(objective: Dict[str, nn.Module], loss_weight: Dict[str, float], scores: Sequence[torch.Tensor],
              iou_pred: torch.Tensor, data: dict) -> Tuple[torch.Tensor, Dict[str, float]]:
    """IoU MSE + LBHinge on the initial, intermediate and final filter's test scores (weights 100/400/100)."""
    clf_losses = [objective['test_clf'](s, data['test_label'], data['test_anno']) for s in scores]
    loss_final = loss_weight['test_clf'] * clf_losses[-1]
    loss_init = loss_weight['test_init_clf'] * clf_losses[0]
    loss_iter = torch.zeros((), device=iou_pred.device)
    if len(clf_losses) > 2:
        loss_iter = loss_weight['test_iter_clf'] * sum(clf_losses[1:-1]) / (len(clf_losses) - 2)
    loss_iou = loss_weight['iou'] * objective['iou'](iou_pred, data['proposal_iou'])
    loss = loss_iou + loss_final + loss_init + loss_iter
    stats = {'Loss/total': loss.item(), 'Loss/iou': loss_iou.item(), 'Loss/target_clf': loss_final.item(),
             'Loss/test_init_clf': loss_init.item(), 'Loss/test_iter_clf': loss_iter.item(),
             'ClfTrain/test_loss': clf_losses[-1].item(), 'ClfTrain/test_init_loss': clf_losses[0].item(),
             'ClfTrain/test_iter_loss': (sum(clf_losses[1:-1]) / max(len(clf_losses) - 2, 1)).item()}
    return loss, stats


class RGBTDiMPActor(BaseActor):
    """Trains an RGBTDiMPnet (teacher or a student without distillation) with the DiMP loss."""

    def __init__(self, net: nn.Module, objective: Optional[Dict[str, nn.Module]] = None,
                 loss_weight: Optional[Dict[str, float]] = None):
        super().__init__(net, objective or dimp_objective())
        self.loss_weight = dict(DIMP_LOSS_WEIGHT, **(loss_weight or {}))

    def __call__(self, data: dict):
        scores, iou_pred = self.net(*net_inputs(data))
        return dimp_loss(self.objective, self.loss_weight, scores, iou_pred, data)
