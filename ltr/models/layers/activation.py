"""Score activations of the DiMP steepest-descent module (DiMP paper, Eq. 4)."""
import torch


def masked_score_activation(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """r(s, m) = (1-m)/2 |s| + (1+m)/2 s: linear where m = 1 (target), a hinge max(0, s) where m = 0."""
    return 0.5 * (1 - mask) * torch.abs(scores) + 0.5 * (1 + mask) * scores


def masked_score_activation_derivative(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """dr/ds = (1-m)/2 sign(s) + (1+m)/2."""
    return 0.5 * (1 - mask) * torch.sign(scores) + 0.5 * (1 + mask)
