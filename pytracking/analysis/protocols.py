"""The evaluation protocol of each benchmark, as its published tables compute it (see
shared/specs/rgbt_benchmarks.md, section 2). The one place that holds thresholds, comparisons and
per-benchmark rules; `evaluation.py` applies them.

| | RGBT234 | RGBT210 | GTOT | LasHeR | VTUAV | synthetic (pytracking) |
|---|---|---|---|---|---|---|
| ground truth per frame | best of visible / infrared | single | best of v / i | single | best of v / i | single |
| frames scored | all | all | all | all | annotated (every 10th) | all |
| frame 1 | tracker's own | := GT | tracker's own | := GT | tracker's own | := GT |
| invalid GT | none | IoU 0 | none | any value <= 0: err -1 (hit), IoU -1 (miss) | not scored | w or h <= 0: err inf, nerr -1, IoU -1 |
| bad result rows (w or h <= 0) | kept | kept | kept | previous row | kept | previous row |
| averaging | per sequence | per sequence | frames pooled | per sequence | per sequence | per sequence |
| precision | 0..50 px, <=, @20 | same | 0:0.5:25, <, @5 | 0..50, <=, @20; NPR 0:0.01:0.5 @0.20 | as RGBT234; NPR as LasHeR | same as LasHeR |
| success | 0:0.05:1, >, mean | same | 0:0.02:1, >, trapezoid | 0:0.05:1, >, mean | as RGBT234 | same |

VTUAV: DUT-VTUAV's MATLAB evaluation derives from the RGBT234 toolkit (spec section 2.2), so PR and
SR follow RGBT234 (best of the two modalities' boxes per frame), on the annotated frames only; NPR
(our source for the VTUAV rule does not define it) is added with LasHeR's thresholds, also best of the
two modalities.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np


def matlab_colon(start: float, step: float, stop: float) -> np.ndarray:
    """MATLAB's `start:step:stop`, bit for bit: the first half counts up from start, the second half
    counts down from stop (so 0:0.05:1 holds 0.6499999999999999, not np.linspace's 0.65)."""
    count = int(np.floor((stop - start) / step + 1e-10))
    k = np.arange(count + 1)
    return np.where(k <= count / 2, start + k * step, stop - (count - k) * step)


@dataclass(frozen=True)
class Protocol:
    """How one benchmark is scored.

    Attributes:
        best_of_modalities: per frame, the minimum centre error and maximum IoU over the visible and
            infrared ground truths (RGBT234, GTOT); else the single (visible) ground truth.
        first_frame_gt: frame 1 of the result is replaced by the ground truth before scoring.
        invalid_gt: how frames with unusable ground truth are scored: 'none', 'zero_iou' (RGBT210:
            IoU 0, nothing else), 'lasher' (any value <= 0: error -1, IoU -1), 'pytracking'
            (w or h <= 0: centre error inf, normalised error -1, IoU -1).
        replace_empty_rows: result rows (frame >= 2) with w or h <= 0 or NaN take the previous row.
        pooled: curves over all frames of all sequences (GTOT) instead of the mean of per-sequence curves.
        precision_strict: `err < t` (GTOT) instead of `err <= t`.
        success_score: 'mean' of the success curve or its 'trapezoid' area (GTOT).
        annotated_only: frames whose ground truth is not finite (VTUAV annotates every 10th frame)
            are left out of the score, numerator and denominator.
        *_index: the point of the curve reported as PR / NPR.
    """
    name: str
    metric_names: Tuple[str, ...]
    best_of_modalities: bool
    first_frame_gt: bool
    invalid_gt: str
    replace_empty_rows: bool
    pooled: bool
    precision_thresholds: np.ndarray
    precision_index: int
    precision_strict: bool
    success_thresholds: np.ndarray
    success_score: str
    norm_precision_thresholds: Optional[np.ndarray] = None
    norm_precision_index: int = 20
    annotated_only: bool = False

    def score_success(self, curve: np.ndarray) -> np.ndarray:
        """Success score of curves (..., thresholds)."""
        if self.success_score == 'mean':
            return curve.mean(axis=-1)
        steps = np.diff(self.success_thresholds)
        return ((curve[..., 1:] + curve[..., :-1]) / 2 * steps).sum(axis=-1)


_PIXELS = matlab_colon(0, 1, 50)
_OVERLAPS = matlab_colon(0, 0.05, 1)
# k / 100, not the colon construction: this is what reproduces the LasHeR toolkit's saved NPR
# curves exactly (the colon's 0.29000000000000004 turns one MTNet frame into a hit).
_NORMALISED = np.arange(51) / 100

PROTOCOLS: Dict[str, Protocol] = {
    'rgbt234': Protocol('rgbt234', ('PR', 'SR'), best_of_modalities=True, first_frame_gt=False, invalid_gt='none',
                        replace_empty_rows=False, pooled=False, precision_thresholds=_PIXELS, precision_index=20,
                        precision_strict=False, success_thresholds=_OVERLAPS, success_score='mean'),
    'rgbt210': Protocol('rgbt210', ('PR', 'SR'), best_of_modalities=False, first_frame_gt=True, invalid_gt='zero_iou',
                        replace_empty_rows=False, pooled=False, precision_thresholds=_PIXELS, precision_index=20,
                        precision_strict=False, success_thresholds=_OVERLAPS, success_score='mean'),
    'gtot': Protocol('gtot', ('PR', 'SR'), best_of_modalities=True, first_frame_gt=False, invalid_gt='none',
                     replace_empty_rows=False, pooled=True, precision_thresholds=matlab_colon(0, 0.5, 25),
                     precision_index=10, precision_strict=True, success_thresholds=matlab_colon(0, 0.02, 1),
                     success_score='trapezoid'),
    'lasher': Protocol('lasher', ('PR', 'NPR', 'SR'), best_of_modalities=False, first_frame_gt=True,
                       invalid_gt='lasher', replace_empty_rows=True, pooled=False, precision_thresholds=_PIXELS,
                       precision_index=20, precision_strict=False, success_thresholds=_OVERLAPS,
                       success_score='mean', norm_precision_thresholds=_NORMALISED),
    'vtuav': Protocol('vtuav', ('PR', 'NPR', 'SR'), best_of_modalities=True, first_frame_gt=False, invalid_gt='none',
                      replace_empty_rows=False, pooled=False, precision_thresholds=_PIXELS, precision_index=20,
                      precision_strict=False, success_thresholds=_OVERLAPS, success_score='mean',
                      norm_precision_thresholds=_NORMALISED, annotated_only=True),
    'synthetic': Protocol('synthetic', ('PR', 'NPR', 'SR'), best_of_modalities=False, first_frame_gt=True,
                          invalid_gt='pytracking', replace_empty_rows=True, pooled=False,
                          precision_thresholds=_PIXELS, precision_index=20, precision_strict=False,
                          success_thresholds=_OVERLAPS, success_score='mean',
                          norm_precision_thresholds=_NORMALISED),
}
