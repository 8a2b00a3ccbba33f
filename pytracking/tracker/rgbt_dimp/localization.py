"""DiMP's advanced localisation on a raw score map: the peak, a second peak outside the target
neighbourhood, and the state not_found / uncertain / hard_negative / normal.

Written with tensor operations only, so that on a GPU the state is decided on the device and read
by the host together with the frame's final box (one transfer per frame)."""
from typing import Tuple

import torch

FLAGS = ('normal', 'hard_negative', 'uncertain', 'not_found')
NORMAL, HARD_NEGATIVE, UNCERTAIN, NOT_FOUND = range(len(FLAGS))


def _peak(scores: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Maximum of an (H, W) map (the first one in row-major order on ties) and its (y, x) cell
    relative to the map centre."""
    height, width = scores.shape
    # max over a dim returns value and index as tensors (indexing with a 0-dim tensor would read it
    # on the host); Python-scalar centre offsets, as a centre tensor would be copied from the host.
    value, index = scores.flatten().max(dim=0)
    offset = torch.stack((index // width - (height - 1) / 2, index % width - (width - 1) / 2))
    return value, offset.to(scores.dtype)


def localize_advanced(scores: torch.Tensor, target_sz_cells: torch.Tensor, prev_disp: torch.Tensor, params
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Args:
        scores: (H, W) score map (any device; non-finite values make the frame not_found).
        target_sz_cells: target size (h, w) in score cells, on the scores' device.
        prev_disp: where the target was, relative to the map centre, in cells (y, x), same device.
    Returns:
        the chosen displacement from the map centre in cells (y, x), and the state as a 0-dim long
        tensor indexing FLAGS.
    """
    height, width = scores.shape
    finite = torch.isfinite(scores).all()
    scores = torch.nan_to_num(scores.float(), nan=0.0, posinf=0.0, neginf=0.0)
    max1, disp1 = _peak(scores)
    peak1 = torch.stack((disp1[0] + (height - 1) / 2, disp1[1] + (width - 1) / 2))

    # Zero the target's neighbourhood (rounded like pytracking's Python round) and find a second peak.
    half = params.target_neighborhood_scale * target_sz_cells / 2
    top = torch.round(peak1[0] - half[0]).clamp(min=0)
    bottom = torch.round(peak1[0] + half[0] + 1).clamp(max=height)
    left = torch.round(peak1[1] - half[1]).clamp(min=0)
    right = torch.round(peak1[1] + half[1] + 1).clamp(max=width)
    rows = torch.arange(height, device=scores.device, dtype=scores.dtype)
    cols = torch.arange(width, device=scores.device, dtype=scores.dtype)
    neighbourhood = ((rows >= top) & (rows < bottom))[:, None] & ((cols >= left) & (cols < right))[None, :]
    max2, disp2 = _peak(torch.where(neighbourhood, torch.zeros_like(scores), scores))

    threshold = params.displacement_scale * (height * width) ** 0.5 / 2
    near1 = torch.linalg.norm(disp1 - prev_disp) <= threshold
    near2 = torch.linalg.norm(disp2 - prev_disp) <= threshold
    distractor = max2 > params.distractor_threshold * max1
    weak_second_peak = (max2 > params.hard_negative_threshold * max1) & (max2 > params.target_not_found_threshold)
    not_found = ~finite | (max1 < params.target_not_found_threshold)

    flag = torch.full((), NORMAL, dtype=torch.long, device=scores.device)
    flag = torch.where(weak_second_peak | (distractor & (near1 != near2)), HARD_NEGATIVE, flag)
    flag = torch.where(distractor & (near1 == near2), UNCERTAIN, flag)
    flag = torch.where(not_found, NOT_FOUND, flag)
    take_second = distractor & near2 & ~near1 & ~not_found
    displacement = torch.where(take_second, disp2, disp1)
    return torch.where(finite, displacement, torch.zeros_like(displacement)), flag
