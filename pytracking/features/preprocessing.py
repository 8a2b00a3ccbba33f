"""Image patches for the tracker: pytracking's sample_patch and ImageNet normalisation."""
import functools
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ltr.models.backbone.resnet import IMAGENET_MEAN, IMAGENET_STD


def numpy_to_torch(image: np.ndarray, device=None) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float in 0..255, on `device` (default CPU). To a GPU the uint8
    pixels travel (a quarter of the float bytes) from pinned memory without blocking the host,
    and are converted there, on the current stream."""
    pixels = torch.from_numpy(np.ascontiguousarray(image))
    if device is not None and torch.device(device).type == 'cuda':
        pixels = pixels.pin_memory().to(device, non_blocking=True)
    return pixels.permute(2, 0, 1).unsqueeze(0).float()


@functools.lru_cache(maxsize=None)
def _imagenet_statistics(device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    # Cached per device: creating them per frame would copy from the host every frame.
    return (torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1),
            torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1))


def normalize(patch: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in 0..255 -> ImageNet-normalised (thermal is normalised like RGB)."""
    mean, std = _imagenet_statistics(patch.device)
    return (patch / 255.0 - mean) / std


def patch_geometry(pos: torch.Tensor, sample_sz: torch.Tensor, output_sz: torch.Tensor):
    """Where sample_patch reads: (downsampling factor, offset, top-left, bottom-right) in (y, x).

    The target position is truncated to integer pixels; a patch much larger than the output is
    read from every df-th pixel; the crop is exactly szl pixels wide (floor division, as the 2019
    pytracking code)."""
    posl = pos.long()
    df = max(int((sample_sz.float() / output_sz.float()).min().item() - 0.1), 1)
    offset = posl % df if df > 1 else torch.zeros_like(posl)
    posl = (posl - offset) // df
    szl = torch.clamp(torch.round(sample_sz.float() / df), min=2).long()
    tl = posl - (szl - 1) // 2
    br = posl + szl // 2 + 1
    return df, offset, tl, br


def sample_patch(image: torch.Tensor, pos: torch.Tensor, sample_sz: torch.Tensor, output_sz: torch.Tensor,
                 mode: str = 'replicate') -> Tuple[torch.Tensor, torch.Tensor]:
    """Crops `sample_sz` (h, w) pixels around `pos` (y, x) of an image (1, C, H, W), padding beyond the
    border, and resizes to `output_sz` (bilinear). Returns the patch and its [y1, x1, y2, x2] in the image."""
    df, offset, tl, br = patch_geometry(pos, sample_sz, output_sz)
    if df > 1:
        image = image[..., int(offset[0])::df, int(offset[1])::df]
    pad = (-int(tl[1]), int(br[1]) - image.shape[3], -int(tl[0]), int(br[0]) - image.shape[2])
    patch = F.pad(image, pad, mode=mode)
    patch = F.interpolate(patch, size=[int(v) for v in output_sz], mode='bilinear', align_corners=False)
    return patch, (df * torch.cat((tl, br))).float()


def registered_patch(image: torch.Tensor, tir_from_rgb: torch.Tensor, coords: torch.Tensor,
                     output_sz: torch.Tensor) -> torch.Tensor:
    """The thermal patch that shows what the visible patch shows, for a thermal camera with its own
    resolution and field of view (issue 26): each output pixel's centre is placed in the visible
    frame as sample_patch placed it (`coords`, the visible patch's [y1, x1, y2, x2], stretched over
    `output_sz`), mapped to the thermal frame by the homography `tir_from_rgb` (visible x, y, 1 ->
    thermal), and read there bilinearly (border pixels repeated beyond the frame). One warp per
    patch: the whole thermal frame is never resized. image (1, C, H, W) -> (1, C, h, w)."""
    height, width = (int(v) for v in output_sz)
    y1, x1, y2, x2 = (float(v) for v in coords)
    device = image.device
    xs = x1 + (torch.arange(width, device=device, dtype=torch.float64) + 0.5) * (x2 - x1) / width - 0.5
    ys = y1 + (torch.arange(height, device=device, dtype=torch.float64) + 0.5) * (y2 - y1) / height - 0.5
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
    points = torch.stack((grid_x, grid_y, torch.ones_like(grid_x)), dim=-1)          # (h, w, 3)
    mapped = points @ tir_from_rgb.to(device=device, dtype=torch.float64).T
    thermal = mapped[..., :2] / mapped[..., 2:3]                                       # thermal (x, y)
    size = torch.tensor([image.shape[3], image.shape[2]], device=device, dtype=torch.float64)
    grid = ((thermal + 0.5) / size * 2 - 1).to(image.dtype).unsqueeze(0)                # align_corners=False
    return F.grid_sample(image, grid, mode='bilinear', padding_mode='border', align_corners=False)

