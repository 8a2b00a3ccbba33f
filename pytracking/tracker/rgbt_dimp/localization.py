"""DiMP's advanced localisation on a raw score map: the peak, a second peak outside the target
neighbourhood, and the state not_found / uncertain / hard_negative / normal."""
from typing import Tuple

import torch


def localize_advanced(scores: torch.Tensor, target_sz_cells: torch.Tensor, prev_disp: torch.Tensor, params
                      ) -> Tuple[torch.Tensor, str]:
    """Args:
        scores: (H, W) score map.
        target_sz_cells: target size (h, w) in score cells.
        prev_disp: where the target was, relative to the map centre, in cells (y, x).
    Returns:
        the chosen displacement from the map centre in cells (y, x), and the localisation state.
    """
    size = torch.tensor(scores.shape, dtype=torch.float32)
    centre = (size - 1) / 2
    max1 = scores.max()
    peak1 = torch.tensor(divmod(int(scores.argmax()), scores.shape[1]), dtype=torch.float32)
    disp1 = peak1 - centre
    if max1 < params.target_not_found_threshold:
        return disp1, 'not_found'

    neighbourhood = params.target_neighborhood_scale * target_sz_cells
    top = max(round(float(peak1[0] - neighbourhood[0] / 2)), 0)
    bottom = min(round(float(peak1[0] + neighbourhood[0] / 2 + 1)), scores.shape[0])
    left = max(round(float(peak1[1] - neighbourhood[1] / 2)), 0)
    right = min(round(float(peak1[1] + neighbourhood[1] / 2 + 1)), scores.shape[1])
    masked = scores.clone()
    masked[top:bottom, left:right] = 0
    max2 = masked.max()
    peak2 = torch.tensor(divmod(int(masked.argmax()), scores.shape[1]), dtype=torch.float32)
    disp2 = peak2 - centre

    if max2 > params.distractor_threshold * max1:
        threshold = params.displacement_scale * torch.sqrt(size.prod()) / 2
        near1 = torch.linalg.norm(disp1 - prev_disp) <= threshold
        near2 = torch.linalg.norm(disp2 - prev_disp) <= threshold
        if near1 and not near2:
            return disp1, 'hard_negative'
        if near2 and not near1:
            return disp2, 'hard_negative'
        return disp1, 'uncertain'
    if max2 > params.hard_negative_threshold * max1 and max2 > params.target_not_found_threshold:
        return disp1, 'hard_negative'
    return disp1, 'normal'
