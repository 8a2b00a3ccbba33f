"""Applying a per-sequence correlation filter, and its transpose (DiMP paper, Sec. 3.1).

Shapes: features (images, sequences, C, H, W); filter (sequences, C, fH, fW);
scores (images, sequences, H + 2*(fH//2) - fH + 1, W + ...), i.e. 19x19 for 18x18 features and fs = 4.
"""
import torch
import torch.nn.functional as F


def apply_filter(feat: torch.Tensor, filter_weights: torch.Tensor) -> torch.Tensor:
    """Cross-correlates each sequence's features with that sequence's filter, padding fs // 2."""
    num_images, num_sequences, channels, height, width = feat.shape
    padding = (filter_weights.shape[-2] // 2, filter_weights.shape[-1] // 2)
    scores = F.conv2d(feat.reshape(num_images, num_sequences * channels, height, width),
                      filter_weights, padding=padding, groups=num_sequences)
    return scores.reshape(num_images, num_sequences, scores.shape[-2], scores.shape[-1])


def apply_feat_transpose(feat: torch.Tensor, score_grad: torch.Tensor, filter_size) -> torch.Tensor:
    """The adjoint X^T of :func:`apply_filter` with respect to the filter.

    Correlates the features with a score-shaped map and sums over images:
    out[s, c, u, v] = sum_{n, y, x} feat_pad[n, s, c, y + u, x + v] * score_grad[n, s, y, x].
    Returns (sequences, C, fH, fW).
    """
    num_images, num_sequences, channels, height, width = feat.shape
    filter_h, filter_w = (filter_size, filter_size) if isinstance(filter_size, int) else filter_size
    padding = (filter_h // 2, filter_w // 2)
    # Channels act as the batch and (sequence, image) as grouped input channels.
    feat_as_input = feat.permute(2, 1, 0, 3, 4).reshape(channels, num_sequences * num_images, height, width)
    grad_as_weight = score_grad.permute(1, 0, 2, 3)                     # (S, N, Ho, Wo)
    out = F.conv2d(feat_as_input, grad_as_weight, padding=padding, groups=num_sequences)   # (C, S, fH', fW')
    return out[:, :, :filter_h, :filter_w].permute(1, 0, 2, 3).contiguous()
