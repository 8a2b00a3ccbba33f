"""Geometry helpers of the training data processing (DiMP: crops, labels)."""
import math
from typing import Sequence, Tuple, Union

import cv2
import numpy as np
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


def iou_xywh(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of boxes [x, y, w, h] (broadcast over leading dimensions)."""
    tl = torch.maximum(a[..., :2], b[..., :2])
    br = torch.minimum(a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:])
    inter = (br - tl).clamp(min=0).prod(dim=-1)
    union = a[..., 2:].prod(dim=-1) + b[..., 2:].prod(dim=-1) - inter
    return inter / union.clamp(min=1e-12)


def jittered_box(box: torch.Tensor, scale_jitter: float, center_jitter: float, rng) -> torch.Tensor:
    """DiMP's training jitter: size * exp(N(0,1) * scale_jitter), centre moved by up to
    +-0.5 * sqrt(w' h') * center_jitter (uniform). `rng` is a numpy Generator."""
    size = box[2:] * torch.exp(torch.as_tensor(rng.standard_normal(2), dtype=box.dtype) * scale_jitter)
    max_offset = size.prod().sqrt() * center_jitter
    centre = box[:2] + 0.5 * box[2:] + max_offset * (torch.as_tensor(rng.random(2), dtype=box.dtype) - 0.5)
    return torch.cat((centre - 0.5 * size, size))


def crop_geometry(box: torch.Tensor, search_area_factor: float) -> Tuple[int, int, int]:
    """Square crop around a box: side ceil(sqrt(w h) * factor), top-left rounded. Returns (x1, y1, side)."""
    x, y, w, h = [float(v) for v in box]
    side = int(math.ceil(math.sqrt(w * h) * search_area_factor))
    if side < 1:
        raise ValueError(f"box {box.tolist()} is too small to crop around")
    return int(round(x + 0.5 * w - 0.5 * side)), int(round(y + 0.5 * h - 0.5 * side)), side


def crop_and_resize(image: np.ndarray, x1: int, y1: int, side: int, output_sz: int) -> np.ndarray:
    """The square [x1, x1 + side) x [y1, y1 + side) of an HxWxC image, replicate-padded where it
    leaves the image, resized to output_sz x output_sz (bilinear)."""
    height, width = image.shape[:2]
    pad_left, pad_top = max(0, -x1), max(0, -y1)
    pad_right, pad_bottom = max(0, x1 + side - width), max(0, y1 + side - height)
    inner = image[max(y1, 0):min(y1 + side, height), max(x1, 0):min(x1 + side, width)]
    if inner.size == 0:       # the crop lies entirely outside: replicate the nearest border pixel
        yy = min(max(y1, 0), height - 1)
        xx = min(max(x1, 0), width - 1)
        inner, pad_left, pad_top, pad_right, pad_bottom = image[yy:yy + 1, xx:xx + 1], 0, 0, side - 1, side - 1
    padded = cv2.copyMakeBorder(inner, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_REPLICATE)
    return cv2.resize(padded, (output_sz, output_sz), interpolation=cv2.INTER_LINEAR)


def box_in_crop(box: torch.Tensor, x1: int, y1: int, side: int, output_sz: int) -> torch.Tensor:
    """Maps a box [x, y, w, h] from image to crop coordinates: (xy - crop_xy) * s, wh * s, s = output_sz / side."""
    scale = output_sz / side
    offset = torch.tensor([x1, y1], dtype=box.dtype)
    return torch.cat(((box[:2] - offset) * scale, box[2:] * scale))


def perturb_box(box: torch.Tensor, min_iou: float, sigma_factor, rng, max_tries: int = 100):
    """A proposal around `box` for IoU-Net training (DiMP): Gaussian noise of std sqrt(w h) * sigma on
    the centre, width and height, rounded; sigma drawn from the list and shrunk by 0.9 until the IoU
    exceeds min_iou. Returns (proposal, IoU)."""
    if not isinstance(sigma_factor, (float, int)):
        sigma_factor = float(sigma_factor[rng.integers(len(sigma_factor))])
    centre = box[:2] + 0.5 * box[2:]
    std = float(box[2:].prod().sqrt()) * sigma_factor
    proposal, iou = box.clone(), torch.tensor(1.0)
    for _ in range(max_tries):
        cx, cy, w, h = (float(v) + std * rng.standard_normal() for v in (centre[0], centre[1], box[2], box[3]))
        if w <= 1:
            w = float(box[2]) * rng.uniform(0.15, 0.5)
        if h <= 1:
            h = float(box[3]) * rng.uniform(0.15, 0.5)
        proposal = torch.tensor([cx - 0.5 * w, cy - 0.5 * h, w, h], dtype=box.dtype).round()
        iou = iou_xywh(box, proposal)
        if iou > min_iou:
            break
        std *= 0.9
    return proposal, iou

