"""Scores trackers on a benchmark with its protocol (protocols.py), vectorised over all frames of
all sequences: per-frame errors and overlaps are computed once on concatenated arrays, and
per-sequence curves are counts reduced at the sequence boundaries."""
import logging
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from pytracking.analysis.protocols import PROTOCOLS, Protocol
from pytracking.analysis.results import ResultFileError, TrackerResults, describe_problems
from rgbt.benchmarks import RGBTSequence

_logger = logging.getLogger(__name__)

POLICIES = ('fail', 'exclude', 'truncate')


def iou_ltwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of [x, y, w, h] rows (the toolkits' inclusive-pixel formula equals the continuous one).
    0/0 (both boxes empty) gives NaN, which every threshold counts as a failure."""
    inter_w = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = inter_w * inter_h
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return inter / union


def centre_error(pred: np.ndarray, gt: np.ndarray, normalise: bool = False) -> np.ndarray:
    """Euclidean distance of the centres x + (w - 1) / 2; normalised: both centres divided by the GT size."""
    pred_centre = pred[:, :2] + (pred[:, 2:] - 1) / 2
    gt_centre = gt[:, :2] + (gt[:, 2:] - 1) / 2
    if normalise:
        # Each centre is divided before subtracting, as the LasHeR toolkit does: the rounding of
        # that order decides frames that sit exactly on a threshold.
        with np.errstate(invalid='ignore', divide='ignore'):
            pred_centre, gt_centre = pred_centre / gt[:, 2:], gt_centre / gt[:, 2:]
    with np.errstate(invalid='ignore'):
        return np.sqrt(((pred_centre - gt_centre) ** 2).sum(axis=1))


@dataclass
class FrameMeasures:
    """Per-frame measures of one tracker on concatenated sequences; `starts` are sequence offsets."""
    error: np.ndarray
    overlap: np.ndarray
    norm_error: Optional[np.ndarray]
    starts: np.ndarray
    lengths: np.ndarray


def _forward_fill_bad_rows(pred: np.ndarray, is_start: np.ndarray) -> np.ndarray:
    """Rows (not first of a sequence) with w or h <= 0 or NaN take the previous row, cascading."""
    bad = ~((pred[:, 2] > 0) & (pred[:, 3] > 0)) & ~is_start
    index = np.where(bad, 0, np.arange(len(pred)))
    return pred[np.maximum.accumulate(index)]


def frame_measures(protocol: Protocol, preds: Sequence[np.ndarray], sequences: Sequence[RGBTSequence]) -> FrameMeasures:
    """Applies the protocol's per-frame rules (first frame, bad rows, invalid GT) and measures."""
    lengths = np.array([len(p) for p in preds])
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    pred = np.concatenate(preds).astype(np.float64)
    gt_v = np.concatenate([s.gt_rgb[:len(p)] for s, p in zip(sequences, preds)])
    gt_i = np.concatenate([s.gt_tir[:len(p)] for s, p in zip(sequences, preds)]) if protocol.best_of_modalities else gt_v
    is_start = np.zeros(len(pred), bool)
    is_start[starts] = True
    if protocol.replace_empty_rows:
        pred = _forward_fill_bad_rows(pred, is_start)
    if protocol.first_frame_gt:
        pred[starts] = gt_v[starts]

    error = centre_error(pred, gt_v)
    overlap = iou_ltwh(pred, gt_v)
    if protocol.best_of_modalities:
        error = np.minimum(error, centre_error(pred, gt_i))
        overlap = np.fmax(overlap, iou_ltwh(pred, gt_i))
    norm_error = centre_error(pred, gt_v, normalise=True) if protocol.norm_precision_thresholds is not None else None
    if norm_error is not None and protocol.best_of_modalities:
        norm_error = np.fmin(norm_error, centre_error(pred, gt_i, normalise=True))

    if protocol.invalid_gt == 'lasher':
        invalid = np.any(gt_v <= 0, axis=1)
        error[invalid], overlap[invalid] = -1, -1
        if norm_error is not None:
            norm_error[invalid] = -1
    elif protocol.invalid_gt == 'pytracking':
        invalid = ~((gt_v[:, 2] > 0) & (gt_v[:, 3] > 0))
        error[invalid], overlap[invalid] = np.inf, -1
        if norm_error is not None:
            norm_error[invalid] = -1
    measures = FrameMeasures(error, overlap, norm_error, starts, lengths)
    if protocol.annotated_only:
        measures = _annotated_frames_only(measures, np.isfinite(gt_v).all(axis=1) | np.isfinite(gt_i).all(axis=1))
    return measures


def _annotated_frames_only(measures: FrameMeasures, annotated: np.ndarray) -> FrameMeasures:
    """The measures of the annotated frames, with the sequence lengths counting only those."""
    seq_index = np.repeat(np.arange(len(measures.lengths)), measures.lengths)
    lengths = np.bincount(seq_index[annotated], minlength=len(measures.lengths))
    if np.any(lengths == 0):
        raise ResultFileError(f"{int(np.sum(lengths == 0))} sequences have no annotated frame to score")
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    norm = measures.norm_error[annotated] if measures.norm_error is not None else None
    return FrameMeasures(measures.error[annotated], measures.overlap[annotated], norm, starts, lengths)


def _hits_at_or_above(values: np.ndarray, thresholds: np.ndarray, seq_index: np.ndarray, num_sequences: int,
                      side: str) -> np.ndarray:
    """Per sequence and threshold, the number of frames with value <= t (side='left') or < t
    (side='right'), by histogramming each frame's first passing threshold: O(frames), not
    O(frames x thresholds). NaN values pass no threshold."""
    first = np.searchsorted(thresholds, values, side=side)          # NaN sorts last: never passes
    bins = len(thresholds) + 1
    counts = np.bincount(seq_index * bins + first, minlength=num_sequences * bins).reshape(num_sequences, bins)
    return np.cumsum(counts, axis=1)[:, :-1]


def _hits_above(values: np.ndarray, thresholds: np.ndarray, seq_index: np.ndarray, num_sequences: int) -> np.ndarray:
    """Per sequence and threshold, the number of frames with value > t (NaN passes none)."""
    passed = np.searchsorted(thresholds, np.nan_to_num(values, nan=-np.inf), side='left')   # thresholds < value
    bins = len(thresholds) + 1
    counts = np.bincount(seq_index * bins + passed, minlength=num_sequences * bins).reshape(num_sequences, bins)
    return counts[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]


@dataclass
class Curves:
    """Per-sequence curves (sequences, thresholds); fractions of each sequence's frames."""
    precision: np.ndarray
    success: np.ndarray
    norm_precision: Optional[np.ndarray]
    lengths: np.ndarray


def sequence_curves(protocol: Protocol, measures: FrameMeasures) -> Curves:
    num_sequences = len(measures.lengths)
    seq_index = np.repeat(np.arange(num_sequences), measures.lengths)
    lengths = measures.lengths[:, None].astype(np.float64)
    precision = _hits_at_or_above(measures.error, protocol.precision_thresholds, seq_index, num_sequences,
                                  'right' if protocol.precision_strict else 'left')
    success = _hits_above(measures.overlap, protocol.success_thresholds, seq_index, num_sequences)
    norm = None
    if measures.norm_error is not None:
        norm = _hits_at_or_above(measures.norm_error, protocol.norm_precision_thresholds, seq_index, num_sequences,
                                 'left') / lengths
    return Curves(precision / lengths, success / lengths, norm, measures.lengths)


def summarise(protocol: Protocol, curves: Curves, mask: Optional[np.ndarray] = None) -> Dict[str, object]:
    """Average curves over (a subset of) sequences and read the scores off them, in percent."""
    mask = np.ones(len(curves.lengths), bool) if mask is None else mask
    if protocol.pooled:      # every frame weighs the same: weight each sequence by its length
        weights = curves.lengths[mask] / curves.lengths[mask].sum()
        average = lambda c: (c[mask] * weights[:, None]).sum(axis=0)  # noqa: E731
    else:
        average = lambda c: c[mask].mean(axis=0)  # noqa: E731
    precision, success = average(curves.precision), average(curves.success)
    scores = {'PR': 100 * precision[protocol.precision_index], 'SR': 100 * protocol.score_success(success)}
    result = {'scores': scores, 'precision': precision, 'success': success,
              'sequences': int(mask.sum()), 'frames': int(curves.lengths[mask].sum())}
    if curves.norm_precision is not None:
        norm = average(curves.norm_precision)
        scores['NPR'] = 100 * norm[protocol.norm_precision_index]
        result['norm_precision'] = norm
    return result


@dataclass
class BenchmarkEvaluation:
    """Scores of several trackers on one benchmark.

    Attributes:
        trackers: name -> summary dict (scores in percent, averaged curves, frames, sequences).
        per_attribute: attribute -> tracker name -> summary dict.
        sequence_names: the sequences scored (excluded ones removed).
        excluded: sequence -> reason, for sequences left out by the 'exclude' policy.
    """
    dataset: str
    protocol: Protocol
    trackers: Dict[str, dict]
    per_attribute: Dict[str, Dict[str, dict]]
    sequence_names: List[str]
    curves: Dict[str, Curves] = field(repr=False, default_factory=dict)
    excluded: Dict[str, str] = field(default_factory=dict)


def evaluate(dataset: str, sequences: Sequence[RGBTSequence], results: Sequence[TrackerResults],
             on_problem: str = 'fail', protocol: Optional[Protocol] = None) -> BenchmarkEvaluation:
    """Scores each tracker's results on the sequences with the benchmark's protocol.

    Args:
        on_problem: what a missing, empty, short or malformed result file does: 'fail' raises
            ResultFileError naming every such file; 'exclude' drops those sequences for all trackers
            (so the table compares the same sequences) with a warning; 'truncate' scores short files
            on the frames they have (the `rgbt` toolkit's behaviour) and excludes the rest.
    """
    if on_problem not in POLICIES:
        raise ValueError(f"on_problem must be one of {POLICIES}, got {on_problem!r}")
    protocol = protocol or PROTOCOLS[dataset]
    problems, truncated = {}, []
    for tracker in results:
        for name, message in tracker.problems.items():
            if on_problem == 'truncate' and message.startswith('short') and name in tracker.boxes:
                truncated.append(f"{tracker.name}: {message}")
                continue
            problems.setdefault(name, message)
    if truncated:
        warnings.warn("short result files scored on the frames they have:\n  " + '\n  '.join(truncated))
    if problems and on_problem == 'fail':
        raise ResultFileError(f"result files with problems (use --on-problem exclude or truncate to go on):\n  "
                              f"{describe_problems(results)}")
    if problems:
        warnings.warn(f"{len(problems)} sequences excluded from every tracker's score:\n  {describe_problems(results)}")
    kept = [s for s in sequences if s.name not in problems]
    if not kept:
        raise ResultFileError("no sequence left to score")

    trackers, curves = {}, {}
    for tracker in results:
        preds = [tracker.boxes[s.name][:len(s)] for s in kept]
        curves[tracker.name] = sequence_curves(protocol, frame_measures(protocol, preds, kept))
        trackers[tracker.name] = summarise(protocol, curves[tracker.name])
        # A drop-out run must not pass for a clean one in a table.
        trackers[tracker.name]['frames_without_a_modality'] = sum(tracker.missing_frames.get(s.name, 0) for s in kept)

    per_attribute = {}
    attribute_names = sorted({a for s in kept for a in s.attributes})
    for attribute in attribute_names:
        mask = np.array([attribute in s.attributes for s in kept])
        per_attribute[attribute] = {name: summarise(protocol, c, mask) for name, c in curves.items()}
    return BenchmarkEvaluation(dataset, protocol, trackers, per_attribute, [s.name for s in kept], curves, problems)
