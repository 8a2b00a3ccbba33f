"""Classification loss of DiMP (DiMP paper, Eq. 7-8)."""
import torch
from torch import nn
import torch.nn.functional as F


class LBHinge(nn.Module):
    """Hinge on background, L2 on target: where label < threshold the prediction is passed through
    ReLU and regressed to 0; elsewhere it is regressed to the label.

    Args:
        error_metric: reduction-free metric (default: mean squared error).
        threshold: labels below it are background.
        clip: optional upper bound on the loss.
    """

    def __init__(self, error_metric=None, threshold=None, clip=None):
        super().__init__()
        self.error_metric = error_metric if error_metric is not None else nn.MSELoss()
        self.threshold = threshold if threshold is not None else -100.0
        self.clip = clip

    def forward(self, prediction: torch.Tensor, label: torch.Tensor, target_bb=None) -> torch.Tensor:
        negative = (label < self.threshold).to(prediction.dtype)
        positive = 1.0 - negative
        prediction = negative * F.relu(prediction) + positive * prediction
        loss = self.error_metric(prediction, positive * label)
        if self.clip is not None:
            loss = torch.clamp(loss, max=self.clip)
        return loss
