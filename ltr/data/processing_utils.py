"""Geometry helpers of the training data processing (DiMP: crops, labels)."""
from typing import Sequence, Union

import torch


def _as_pair(value) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float32).flatten()
    return tensor.expand(2) if tensor.numel() == 1 else tensor


def gaussian_label_function(target_bb: torch.Tensor, sigma_factor: float, kernel_sz: Union[int, Sequence[int]],
                            feat_sz: Union[int, Sequence[int]], image_sz: Union[int, Sequence[int]],
                            end_pad_if_even: bool = True) -> torch.Tensor:
    """Gaussian classification label centred on the target, on the score-map grid (DiMP Sec. 3.4).

    The grid runs over k = -(feat_sz-1)/2 ... (feat_sz-1)/2, plus one cell at the end when the filter
    kernel is even (the score map is then feat_sz + 1 wide). The target centre c (image pixels)
    maps to feat_sz * (c - image_sz/2) / image_sz (+0.5 for an even kernel), so that for DiMP
    (18 cells, 288 px, kernel 4) the peak lies at index c / 16, as in the distance map of the
    steepest-descent module. sigma = sigma_factor * feat_sz cells.

    Args:
        target_bb: (..., 4) boxes xywh in crop pixels.
    Returns:
        (..., H, W) labels with H = feat_sz (+1 if the kernel is even and end_pad_if_even).
    """
    kernel_sz, feat_sz, image_sz = _as_pair(kernel_sz), _as_pair(feat_sz), _as_pair(image_sz)
    sigma = sigma_factor * feat_sz
    target_bb = target_bb.to(torch.float32)
    center_xy = target_bb[..., :2] + 0.5 * target_bb[..., 2:]
    center = feat_sz * (center_xy - image_sz / 2) / image_sz + 0.5 * ((kernel_sz + 1) % 2)   # (..., 2) (x, y)

    def gauss_1d(dim: int) -> torch.Tensor:
        size = int(feat_sz[dim])
        grid = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
        if end_pad_if_even and int(kernel_sz[dim]) % 2 == 0:
            grid = torch.cat((grid, grid[-1:] + 1))
        return torch.exp(-0.5 * ((grid - center[..., dim:dim + 1]) / sigma[dim]) ** 2)   # (..., len)

    gauss_x, gauss_y = gauss_1d(0), gauss_1d(1)
    return gauss_y.unsqueeze(-1) * gauss_x.unsqueeze(-2)
