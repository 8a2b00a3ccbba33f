"""Precise RoI Pooling (Jiang et al., "Acquisition of Localization Confidence for Accurate Object
Detection", ECCV 2018), in pure PyTorch.

The feature map F (H x W) is made continuous by bilinear interpolation with samples at integer
coordinates and zeros outside the map:

    f(y, x) = sum_{h, w} F[h, w] * k(y - h) * k(x - w),      k(t) = max(0, 1 - |t|).

Each output bin is the exact integral of f over the bin divided by the bin area. Because f is a
sum of separable products, the integral factorises:

    out[i, j] = (1 / area) * sum_{h, w} Ky[i, h] * F[h, w] * Kx[j, w],
    Ky[i, h]  = integral of k(y - h) over the i-th bin's y-range   (closed form, see _hat_integral)

so the pooling is two small matrix products per RoI, computed here without any sampling. Area
outside the map contributes 0 to the integral but stays in the denominator, an empty bin gives 0,
and everything is differentiable with respect to the features and the RoI coordinates (autograd
through the closed form gives the analytic edge-integral gradient that IoU-Net refinement needs).
Works on any device and floating dtype.
"""
import torch
from torch import nn


def _hat_cdf(t: torch.Tensor) -> torch.Tensor:
    """Antiderivative of the hat function k(t) = max(0, 1 - |t|), zero at t <= -1, one at t >= 1."""
    u = t.clamp(-1.0, 1.0)
    return torch.where(u <= 0, 0.5 * (u + 1) ** 2, 1 - 0.5 * (1 - u) ** 2)


def _hat_integral(start: torch.Tensor, length: torch.Tensor, num_bins: int, size: int) -> torch.Tensor:
    """Integral of k(t - s) over each of `num_bins` equal bins of [start, start + length].

    Args:
        start, length: (R,) bin range per RoI, in feature-map pixels.
    Returns:
        (R, num_bins, size): entry [r, i, s] integrates the hat centred on sample s over bin i.
    """
    steps = torch.arange(num_bins + 1, device=start.device, dtype=start.dtype) / num_bins
    edges = start[:, None] + length[:, None] * steps                    # (R, num_bins + 1)
    samples = torch.arange(size, device=start.device, dtype=start.dtype)
    cdf = _hat_cdf(edges[:, :, None] - samples)                         # (R, num_bins + 1, size)
    return cdf[:, 1:] - cdf[:, :-1]


def _slots_within_batch(batch_index: torch.Tensor, batch_size: int):
    """Rank of each RoI among the RoIs of its image, and the largest count per image."""
    counts = torch.bincount(batch_index, minlength=batch_size)
    order = torch.argsort(batch_index, stable=True)
    group_start = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(batch_index)
    slot[order] = torch.arange(batch_index.numel(), device=batch_index.device) - group_start[batch_index[order]]
    return slot, int(counts.max())


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float) -> torch.Tensor:
    """Precise RoI pooling.

    Args:
        features: (B, C, H, W) feature maps.
        rois: (R, 5) rows (batch_index, x1, y1, x2, y2) in image coordinates; they are multiplied by
            `spatial_scale` with no half-pixel offset.
    Returns:
        (R, C, pooled_height, pooled_width).
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (R, 5) rows (batch_index, x1, y1, x2, y2), got shape {tuple(rois.shape)}")
    batch_size, channels, height, width = features.shape
    num_rois = rois.shape[0]
    if num_rois == 0:
        return features.new_zeros(0, channels, pooled_height, pooled_width)
    rois = rois.to(features.dtype)
    batch_index = rois[:, 0].detach().long()
    if int(batch_index.min()) < 0 or int(batch_index.max()) >= batch_size:
        raise IndexError(f"roi batch index out of range [0, {batch_size})")

    x1, y1, x2, y2 = (rois[:, 1:] * spatial_scale).unbind(1)
    roi_w = (x2 - x1).clamp(min=0)
    roi_h = (y2 - y1).clamp(min=0)
    ky = _hat_integral(y1, roi_h, pooled_height, height)                # (R, PH, H)
    kx = _hat_integral(x1, roi_w, pooled_width, width)                  # (R, PW, W)

    # Group the RoIs by image into zero-padded slots so that each image's features are read once,
    # instead of gathering a (R, C, H, W) copy of the features.
    slot, max_per_image = _slots_within_batch(batch_index, batch_size)
    ky_grouped = ky.new_zeros(batch_size, max_per_image, pooled_height, height).index_put((batch_index, slot), ky)
    kx_grouped = kx.new_zeros(batch_size, max_per_image, pooled_width, width).index_put((batch_index, slot), kx)
    n = max_per_image
    cols = torch.bmm(features.reshape(batch_size, channels * height, width),
                     kx_grouped.reshape(batch_size, n * pooled_width, width).transpose(1, 2))   # (B, C*H, N*PW)
    cols = cols.reshape(batch_size, channels, height, n, pooled_width).permute(0, 3, 2, 1, 4)
    cols = cols.reshape(batch_size * n, height, channels * pooled_width)
    integral = torch.bmm(ky_grouped.reshape(batch_size * n, pooled_height, height), cols)       # (B*N, PH, C*PW)
    integral = integral.reshape(batch_size * n, pooled_height, channels, pooled_width)[batch_index * n + slot]
    integral = integral.permute(0, 2, 1, 3)                                                    # (R, C, PH, PW)

    bin_area = (roi_w * roi_h / (pooled_height * pooled_width)).view(-1, 1, 1, 1)
    safe_area = torch.where(bin_area > 0, bin_area, torch.ones_like(bin_area))
    return torch.where(bin_area > 0, integral / safe_area, torch.zeros_like(integral))


class PrRoIPool2D(nn.Module):
    """Module form of :func:`prroi_pool2d`, called as ``pool(features, rois)`` like pytracking's."""

    def __init__(self, pooled_height: int, pooled_width: int, spatial_scale: float):
        super().__init__()
        self.pooled_height = int(pooled_height)
        self.pooled_width = int(pooled_width)
        self.spatial_scale = float(spatial_scale)

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return prroi_pool2d(features, rois, self.pooled_height, self.pooled_width, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"pooled_height={self.pooled_height}, pooled_width={self.pooled_width}, spatial_scale={self.spatial_scale}"
