"""Precise RoI Pooling (Jiang et al., "Acquisition of Localization Confidence for Accurate Object
Detection", ECCV 2018), in pure PyTorch with a hand-written backward.

The feature map F (H x W) is made continuous by bilinear interpolation with samples at integer
coordinates and zeros outside the map:

    f(y, x) = sum_{h, w} F[h, w] * k(y - h) * k(x - w),      k(t) = max(0, 1 - |t|).

Under ONNX export the same integral is computed by a traceable twin (`_prroi_pool_traceable`).

Each output bin is the exact integral of f over the bin divided by the bin area. Because f is a
sum of separable products, the integral factorises:

    out[i, j] = (1 / area) * sum_{h, w} Ky[i, h] * F[h, w] * Kx[j, w],
    Ky[i, h]  = K(e[i+1] - h) - K(e[i] - h),      K' = k,  e[i] = y1 + i * (y2 - y1) / PH

so the pooling is two small matrix products per RoI, computed without any sampling. Area outside
the map contributes 0 to the integral but stays in the denominator, and an empty bin gives 0.

The backward is the paper's analytic one, written out rather than left to autograd (which spends
most of the IoU-Net refinement's time on the permuted copies of this factorisation):

    dL/dF[h, w]   = sum_r sum_{i, j} Ky[i, h] G[i, j] Kx[j, w]                  G = dL/dout / area
    dL/dKy[i, h]  = sum_{c, j} G[c, i, j] (F Kx^T)[c, h, j]     (dL/dKx likewise with Ky F)
    dL/de[m]      = sum_h k(e[m] - h) (dL/dKy[m-1, h] - dL/dKy[m, h])
    dL/d(area)    = -sum(dL/dout * out) / area

and the edges e are affine in (y1, y2). Any device and floating dtype.
"""
from typing import Optional, Tuple

import torch
from torch import nn


def _hat_cdf(t: torch.Tensor) -> torch.Tensor:
    """Antiderivative K of the hat function k(t) = max(0, 1 - |t|), zero at t <= -1, one at t >= 1."""
    u = t.clamp(-1.0, 1.0)
    return torch.where(u <= 0, 0.5 * (u + 1) ** 2, 1 - 0.5 * (1 - u) ** 2)


def _bin_edges(start: torch.Tensor, length: torch.Tensor, num_bins: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Edges (R, num_bins + 1) of `num_bins` equal bins of [start, start + length], and the fractions
    (num_bins + 1,) of `length` at which they sit."""
    steps = torch.arange(num_bins + 1, device=start.device, dtype=start.dtype) / num_bins
    return start[:, None] + length[:, None] * steps, steps


def _hat_integral(edges: torch.Tensor, size: int, samples: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(R, bins, size): entry [r, i, s] integrates the hat centred on sample s over bin i, the samples
    being 0..size-1, or the coordinates `samples` (a window of the map)."""
    if samples is None:
        samples = torch.arange(size, device=edges.device, dtype=edges.dtype)
    cdf = _hat_cdf(edges[:, :, None] - samples)                         # (R, bins + 1, size)
    return cdf[:, 1:] - cdf[:, :-1]


def _edge_gradient(grad_kernel: torch.Tensor, edges: torch.Tensor, steps: torch.Tensor, samples=None):
    """dL/dstart and dL/dlength (R,) of the bins from dL/dK (R, bins, size), K from _hat_integral
    (`samples`: its sample coordinates when they are not 0..size-1)."""
    if samples is None:
        samples = torch.arange(grad_kernel.shape[2], device=edges.device, dtype=edges.dtype)
    hat = (1 - (edges[:, :, None] - samples).abs()).clamp(min=0)       # K' at every edge, (R, bins + 1, size)
    padded = torch.nn.functional.pad(grad_kernel, (0, 0, 1, 1))        # dL/dK[-1] = dL/dK[bins] = 0
    grad_edges = (hat * (padded[:, :-1] - padded[:, 1:])).sum(2)        # (R, bins + 1)
    return grad_edges.sum(1), grad_edges @ steps


def _slots_within_batch(batch_index: torch.Tensor, batch_size: int):
    """Rank of each RoI among the RoIs of its image, and the largest count per image."""
    counts = torch.bincount(batch_index, minlength=batch_size)
    order = torch.argsort(batch_index, stable=True)
    group_start = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(batch_index)
    slot[order] = torch.arange(batch_index.numel(), device=batch_index.device) - group_start[batch_index[order]]
    return slot, int(counts.max())


class _Grouping:
    """RoIs placed in zero-padded per-image slots (B, N, ...), so that each image's features are read
    by one batched product instead of being gathered into an (R, C, H, W) copy. When the RoIs come
    ordered by image with the same count per image (the tracker's single image, and the training
    batches of proposals), grouping is a reshape."""

    def __init__(self, batch_index: torch.Tensor, batch_size: int):
        self.batch_index, self.batch_size = batch_index, batch_size
        num_rois = batch_index.numel()
        self.uniform = num_rois % batch_size == 0 and (batch_size == 1 or torch.equal(
            batch_index, torch.arange(batch_size, device=batch_index.device).repeat_interleave(num_rois // batch_size)))
        if self.uniform:
            self.per_image = num_rois // batch_size
        else:
            self.slot, self.per_image = _slots_within_batch(batch_index, batch_size)

    def group(self, per_roi: torch.Tensor) -> torch.Tensor:
        """(R, ...) -> (B, N, ...)."""
        if self.uniform:
            return per_roi.reshape(self.batch_size, self.per_image, *per_roi.shape[1:])
        grouped = per_roi.new_zeros(self.batch_size, self.per_image, *per_roi.shape[1:])
        return grouped.index_put((self.batch_index, self.slot), per_roi)

    def ungroup(self, grouped: torch.Tensor) -> torch.Tensor:
        """(B, N, ...) -> (R, ...)."""
        if self.uniform:
            return grouped.reshape(-1, *grouped.shape[2:])
        return grouped[self.batch_index, self.slot]


class _PrRoIPool(torch.autograd.Function):

    @staticmethod
    def forward(ctx, features, rois, pooled_height, pooled_width, spatial_scale, origin):
        batch_size, channels, height, width = features.shape
        num_rois = rois.shape[0]
        x1, y1, x2, y2 = (rois[:, 1:].to(features.dtype) * spatial_scale).unbind(1)
        x1, y1, x2, y2 = x1 - origin[0], y1 - origin[1], x2 - origin[0], y2 - origin[1]
        roi_w, roi_h = (x2 - x1).clamp(min=0), (y2 - y1).clamp(min=0)
        edges_y, steps_y = _bin_edges(y1, roi_h, pooled_height)
        edges_x, steps_x = _bin_edges(x1, roi_w, pooled_width)
        ky, kx = _hat_integral(edges_y, height), _hat_integral(edges_x, width)    # (R, PH, H), (R, PW, W)
        groups = _Grouping(rois[:, 0].long(), batch_size)

        # F Kx^T per RoI: (B, C*H, W) x (B, W, N*PW), rearranged to (R, H, C*PW).
        kx_grouped = groups.group(kx).reshape(batch_size, -1, width)
        cols = torch.bmm(features.reshape(batch_size, channels * height, width), kx_grouped.transpose(1, 2))
        cols = cols.reshape(batch_size, channels, height, groups.per_image, pooled_width).permute(0, 3, 2, 1, 4)
        cols = groups.ungroup(cols).reshape(num_rois, height, channels * pooled_width)
        integral = torch.bmm(ky, cols).reshape(num_rois, pooled_height, channels, pooled_width)

        area = roi_w * roi_h / (pooled_height * pooled_width)
        inverse_area = torch.where(area > 0, 1 / torch.where(area > 0, area, torch.ones_like(area)),
                                   torch.zeros_like(area))
        out = (integral * inverse_area.view(-1, 1, 1, 1)).permute(0, 2, 1, 3).contiguous()  # (R, C, PH, PW)
        ctx.save_for_backward(features, rois, ky, kx, cols, out, edges_y, edges_x, steps_y, steps_x,
                              roi_w, roi_h, inverse_area)
        ctx.groups = groups
        ctx.pooled = (pooled_height, pooled_width, spatial_scale)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (features, rois, ky, kx, cols, out, edges_y, edges_x, steps_y, steps_x,
         roi_w, roi_h, inverse_area) = ctx.saved_tensors
        groups = ctx.groups
        pooled_height, pooled_width, spatial_scale = ctx.pooled
        batch_size, channels, height, width = features.shape
        num_rois = rois.shape[0]
        grad_integral = (grad_out * inverse_area.view(-1, 1, 1, 1)).permute(0, 2, 1, 3)   # (R, PH, C, PW)
        grad_integral = grad_integral.reshape(num_rois, pooled_height, channels * pooled_width)
        # Ky^T G per RoI, laid out as the forward's F Kx^T: (B, C*H, N*PW). It gives both the feature
        # gradient and dL/dKx, so the one large permuted copy of the backward is this one.
        ky_grouped = groups.group(ky).reshape(-1, pooled_height, height)
        spread = torch.bmm(ky_grouped.transpose(1, 2), groups.group(grad_integral).reshape(-1, pooled_height,
                                                                                            channels * pooled_width))
        spread = spread.reshape(batch_size, groups.per_image, height, channels, pooled_width)
        spread = spread.permute(0, 3, 2, 1, 4).reshape(batch_size, channels * height, -1)

        grad_features = grad_rois = None
        if ctx.needs_input_grad[0]:
            kx_grouped = groups.group(kx).reshape(batch_size, -1, width)
            grad_features = torch.bmm(spread, kx_grouped).reshape(features.shape)
        if ctx.needs_input_grad[1]:
            grad_ky = torch.bmm(grad_integral, cols.transpose(1, 2))                          # (R, PH, H)
            grad_kx = torch.bmm(features.reshape(batch_size, channels * height, width).transpose(1, 2), spread)
            grad_kx = grad_kx.transpose(1, 2).reshape(batch_size, groups.per_image, pooled_width, width)
            grad_kx = groups.ungroup(grad_kx)                                                  # (R, PW, W)
            grad_y1, grad_h = _edge_gradient(grad_ky, edges_y, steps_y)
            grad_x1, grad_w = _edge_gradient(grad_kx, edges_x, steps_x)
            # out = integral / area: the area term of the quotient rule.
            grad_area = -(grad_out * out).sum((1, 2, 3)) * inverse_area
            bins = pooled_height * pooled_width
            grad_h = (grad_h + grad_area * roi_w / bins) * (roi_h > 0)
            grad_w = (grad_w + grad_area * roi_h / bins) * (roi_w > 0)
            grad_coords = torch.stack((grad_x1 - grad_w, grad_y1 - grad_h, grad_w, grad_h), dim=1) * spatial_scale
            grad_rois = torch.cat((torch.zeros_like(grad_coords[:, :1]), grad_coords), dim=1).to(rois.dtype)
        return grad_features, grad_rois, None, None, None, None


def _support_window(rois: torch.Tensor, spatial_scale: float, height: int, width: int) -> Tuple[slice, slice]:
    """Rows and columns of the feature map that some RoI reads: the hat of sample s reaches the range
    [a, b] only when a - 1 < s < b + 1, so everything else pools with kernels that are exactly 0."""
    xs, ys = rois[:, 1::2] * spatial_scale, rois[:, 2::2] * spatial_scale      # (x1, x2), (y1, y2)
    return _window(ys.min(), ys.max(), height), _window(xs.min(), xs.max(), width)


def _window_bounds(low: torch.Tensor, high: torch.Tensor, size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(start, stop) of the samples s of 0..size-1 with low - 1 < s < high + 1, widened to whole
    pixels, never empty; tensors computed from tensors, so that the exporter can trace them."""
    start = (torch.floor(low) - 1).clamp(0, size - 1)
    return start, torch.maximum((torch.ceil(high) + 2).clamp(max=size), start + 1)


def _window(low: torch.Tensor, high: torch.Tensor, size: int) -> slice:
    """The window of _window_bounds as a slice (read on the host)."""
    start, stop = _window_bounds(low, high, size)
    return slice(int(start), int(stop))


def _prroi_pool_traceable(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                          spatial_scale: float) -> torch.Tensor:
    """The same factorised integral without the custom backward, the grouping and the host-side
    crop: plain tensor operations (a gather and an einsum) that the ONNX exporter can trace."""
    height, width = features.shape[-2:]
    x1, y1, x2, y2 = (rois[:, 1:].to(features.dtype) * spatial_scale).unbind(1)
    roi_w, roi_h = (x2 - x1).clamp(min=0), (y2 - y1).clamp(min=0)
    ky = _hat_integral(_bin_edges(y1, roi_h, pooled_height)[0], height)           # (R, PH, H)
    kx = _hat_integral(_bin_edges(x1, roi_w, pooled_width)[0], width)             # (R, PW, W)
    per_roi = features[rois[:, 0].long()]                                        # (R, C, H, W)
    integral = torch.einsum('rih,rchw,rjw->rcij', ky, per_roi, kx)
    area = roi_w * roi_h / (pooled_height * pooled_width)
    inverse_area = torch.where(area > 0, 1 / torch.where(area > 0, area, torch.ones_like(area)), torch.zeros_like(area))
    return integral * inverse_area.view(-1, 1, 1, 1)


class PooledBoxes:
    """PrRoIPool of R boxes on one feature map (C, H, W), with the gradient with respect to the boxes
    in closed form (the backward's formulas of the module docstring, in plain traceable operations:
    einsums and index selections, no per-RoI copies, no host read), so that a graph exported with it
    computes IoU-Net's box gradient without autograd. Only the rows and columns some box reaches are
    read (the window is computed from the boxes as tensors, so an exported graph keeps it dynamic).
    `out` is (R, C, PH, PW); `box_gradient(dL/dout)` is dL/d(x1, y1, x2, y2), (R, 4), in the
    coordinates of `rois` (R, 4) x1y1x2y2."""

    def __init__(self, features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float):
        self.spatial_scale = spatial_scale
        self.bins = pooled_height * pooled_width
        x1, y1, x2, y2 = (rois.to(features.dtype) * spatial_scale).unbind(1)
        self.roi_w, self.roi_h = (x2 - x1).clamp(min=0), (y2 - y1).clamp(min=0)
        self.edges_y, self.steps_y = _bin_edges(y1, self.roi_h, pooled_height)
        self.edges_x, self.steps_x = _bin_edges(x1, self.roi_w, pooled_width)
        self.rows = _reached(torch.minimum(y1, y2).min(), torch.maximum(y1, y2).max(), features.shape[-2])
        self.cols = _reached(torch.minimum(x1, x2).min(), torch.maximum(x1, x2).max(), features.shape[-1])
        self.features = features.index_select(1, self.rows).index_select(2, self.cols)     # (C, h, w) window
        self.ky = _hat_integral(self.edges_y, 0, self.rows.to(features.dtype))         # (R, PH, h)
        self.kx = _hat_integral(self.edges_x, 0, self.cols.to(features.dtype))         # (R, PW, w)
        self.fkx = torch.einsum('chw,rjw->rchj', self.features, self.kx)              # F Kx^T, (R, C, h, PW)
        area = self.roi_w * self.roi_h / self.bins
        self.inverse_area = torch.where(area > 0, 1 / torch.where(area > 0, area, torch.ones_like(area)),
                                        torch.zeros_like(area))
        self.out = torch.einsum('rih,rchj->rcij', self.ky, self.fkx) * self.inverse_area.view(-1, 1, 1, 1)

    def box_gradient(self, grad_out: torch.Tensor) -> torch.Tensor:
        grad_integral = grad_out * self.inverse_area.view(-1, 1, 1, 1)               # (R, C, PH, PW)
        grad_ky = torch.einsum('rcij,rchj->rih', grad_integral, self.fkx)            # (R, PH, h)
        rows = torch.einsum('rih,chw->rciw', self.ky, self.features)                 # Ky F, (R, C, PH, w)
        grad_kx = torch.einsum('rcij,rciw->rjw', grad_integral, rows)                # (R, PW, w)
        grad_y1, grad_h = _edge_gradient(grad_ky, self.edges_y, self.steps_y, self.rows.to(grad_ky.dtype))
        grad_x1, grad_w = _edge_gradient(grad_kx, self.edges_x, self.steps_x, self.cols.to(grad_kx.dtype))
        grad_area = -(grad_out * self.out).sum((1, 2, 3)) * self.inverse_area         # the quotient rule's area term
        grad_h = (grad_h + grad_area * self.roi_w / self.bins) * (self.roi_h > 0)
        grad_w = (grad_w + grad_area * self.roi_h / self.bins) * (self.roi_w > 0)
        return torch.stack((grad_x1 - grad_w, grad_y1 - grad_h, grad_w, grad_h), dim=1) * self.spatial_scale


def _reached(low: torch.Tensor, high: torch.Tensor, size: int) -> torch.Tensor:
    """The indices of the window of _window_bounds, as a tensor (traceable: the window stays dynamic)."""
    start, stop = _window_bounds(low, high, size)
    return torch.arange(start.long(), stop.long(), device=low.device)


def prroi_pool2d(features: torch.Tensor, rois: torch.Tensor, pooled_height: int, pooled_width: int,
                 spatial_scale: float, crop: Optional[bool] = None) -> torch.Tensor:
    """Precise RoI pooling.

    Args:
        features: (B, C, H, W) feature maps.
        rois: (R, 5) rows (batch_index, x1, y1, x2, y2) in image coordinates; they are multiplied by
            `spatial_scale` with no half-pixel offset.
        crop: pool only the part of the map that the RoIs reach (same result, less work when the RoIs
            cluster, as in IoU-Net refinement). Finding that part reads the RoIs on the host, so
            the default (None) crops on the CPU only, keeping CUDA calls free of synchronisation.
    Returns:
        (R, C, pooled_height, pooled_width), differentiable with respect to features and RoI coordinates.
    """
    if torch.onnx.is_in_onnx_export():
        return _prroi_pool_traceable(features, rois, int(pooled_height), int(pooled_width), float(spatial_scale))
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (R, 5) rows (batch_index, x1, y1, x2, y2), got shape {tuple(rois.shape)}")
    batch_size, channels, height, width = features.shape
    if rois.shape[0] == 0:
        return features.new_zeros(0, channels, pooled_height, pooled_width)
    batch_index = rois[:, 0].detach()
    in_range = (batch_index >= 0).all() & (batch_index < batch_size).all()
    if batch_index.is_cuda:
        torch._assert_async(in_range, f"roi batch index out of range [0, {batch_size})")
    elif not in_range:
        raise IndexError(f"roi batch index out of range [0, {batch_size})")
    origin = (0.0, 0.0)                     # (x, y) of the pooled window in feature-map pixels
    if crop or (crop is None and not features.is_cuda):
        rows, cols = _support_window(rois.detach(), spatial_scale, height, width)
        if rows.stop - rows.start < height or cols.stop - cols.start < width:
            features, origin = features[:, :, rows, cols], (float(cols.start), float(rows.start))
    return _PrRoIPool.apply(features.contiguous(), rois, int(pooled_height), int(pooled_width),
                            float(spatial_scale), origin)


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
