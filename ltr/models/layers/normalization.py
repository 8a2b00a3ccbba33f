"""Normalisation layers of the DiMP classifier (Bhat et al., "Learning Discriminative Model
Prediction for Tracking", ICCV 2019)."""
import torch
from torch import nn


class InstanceL2Norm(nn.Module):
    """Scales each sample to a fixed L2 norm: y = x * scale * sqrt(C*H*W / (sum(x^2) + eps)).

    Input and output (N, C, H, W).
    """

    def __init__(self, scale: float = 1.0, eps: float = 1e-5):
        super().__init__()
        self.scale = scale
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        num_elements = x.shape[1] * x.shape[2] * x.shape[3]
        squared_norm = (x * x).sum(dim=(1, 2, 3), keepdim=True)
        return x * (self.scale * torch.sqrt(num_elements / (squared_norm + self.eps)))

    def extra_repr(self) -> str:
        return f"scale={self.scale}, eps={self.eps}"
