"""Raw tracking results of any tracker: file discovery and parsing.

Accepted: one row per frame, comma / tab / space delimited, 4 values [x, y, w, h] or 8 corner
values x1 y1 x2 y1 x2 y2 x1 y2 (converted as MATLAB's corner2rect: round([x1, y1, x2-x1, y2-y1])),
integers or floats. File names `<prefix><seq>.txt`; the prefix (`''`, `<Tracker>_`, ...) is detected
from the folder's files unless given. Other files (`<seq>_time.txt`, extra sequences) are ignored.
"""
import argparse
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from rgbt.benchmarks import AnnotationError, corners_to_ltwh, read_boxes

_logger = logging.getLogger(__name__)


class ResultFileError(RuntimeError):
    """Result files that are missing, empty, short or unreadable; the message lists each by name."""


def corners_to_rect(corners: np.ndarray) -> np.ndarray:
    """(N, 8) polygons TL, TR, BR, BL -> (N, 4) round([x1, y1, x2 - x1, y2 - y1]) (MATLAB corner2rect)."""
    return np.round(corners_to_ltwh(corners[:, [0, 1, 2, 5]]))        # x1, y1 of TL; x2 of TR; y2 of BR


def read_result_file(path: os.PathLike) -> np.ndarray:
    """(N, 4) boxes [x, y, w, h] from a result file of 4 or 8 columns."""
    boxes = read_boxes(path, columns=(4, 8))
    return corners_to_rect(boxes) if boxes.shape[1] == 8 else boxes


def parse_name_value(text: str, option: str):
    """'NAME=VALUE' (a command line's `--results NAME=DIR`, `--prefix NAME=PFX`) -> (NAME, VALUE)."""
    if '=' not in text:
        raise argparse.ArgumentTypeError(f"{option} expects NAME=VALUE, got {text!r}")
    name, value = text.split('=', 1)
    return name, value


def detect_prefix(file_names: Sequence[str], sequence_names: Sequence[str]) -> str:
    """The file-name prefix shared by most sequences' result files (`''` when names are bare)."""
    wanted = set(sequence_names)
    votes = Counter()
    for file_name in file_names:
        if not file_name.endswith('.txt'):
            continue
        stem = file_name[:-4]
        seen = set()
        for start in range(len(stem)):
            if stem[start:] in wanted and stem[:start] not in seen:
                seen.add(stem[:start])
                votes[stem[:start]] += 1
    if not votes:
        return ''
    best = max(votes.values())
    return min((p for p, v in votes.items() if v == best), key=len)


@dataclass
class TrackerResults:
    """Boxes per sequence of one tracker, and the problems found while reading them."""
    name: str
    folder: Path
    prefix: str
    boxes: Dict[str, np.ndarray] = field(default_factory=dict)
    problems: Dict[str, str] = field(default_factory=dict)     # sequence -> what is wrong
    # sequence -> frames tracked with a modality missing (pytracking's `<seq>_missing.txt` record)
    missing_frames: Dict[str, int] = field(default_factory=dict)


def load_tracker_results(name: str, folder: os.PathLike, gt_lengths: Dict[str, int],
                         prefix: Optional[str] = None) -> TrackerResults:
    """Reads the result file of every sequence in `gt_lengths` (sequence -> number of GT frames).

    Long files are truncated to the ground truth; missing, empty, short and malformed files are
    recorded in `problems` (the caller decides whether that fails the run).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"result folder {folder} of tracker {name} does not exist")
    if prefix is None:
        prefix = detect_prefix(os.listdir(folder), list(gt_lengths))
    results = TrackerResults(name, folder, prefix)
    for sequence, length in gt_lengths.items():
        path = folder / f"{prefix}{sequence}.txt"
        if not path.is_file():
            results.problems[sequence] = f"missing {path}"
            continue
        try:
            boxes = read_result_file(path)
        except AnnotationError as err:
            results.problems[sequence] = str(err)
            continue
        if len(boxes) == 0:
            results.problems[sequence] = f"empty {path}"
        elif len(boxes) < length:
            results.problems[sequence] = f"short {path}: {len(boxes)} rows for {length} frames"
            results.boxes[sequence] = boxes                  # kept for the 'truncate' policy
        else:
            results.boxes[sequence] = boxes[:length]
        _warn_non_finite(path, results.boxes.get(sequence))
        missing = count_missing_frames(folder / f"{prefix}{sequence}_missing.txt")
        if missing:
            results.missing_frames[sequence] = missing
    return results


def count_missing_frames(path: Path) -> int:
    """Frames recorded in a missing-modality file (`# frame<TAB>modality<TAB>reason` then one line
    per missing image; a frame listed for both modalities counts once); 0 when there is no file.
    Lines that are not such a record are warned about (naming the file and line) and not counted."""
    if not path.is_file():
        return 0
    frames, bad = set(), []
    for number, line in enumerate(path.read_text(errors='replace').splitlines(), start=1):
        if not line.strip() or line.startswith('#'):
            continue
        fields = line.split('\t')
        if len(fields) >= 2 and fields[0].strip().isdigit() and fields[1].strip() in ('rgb', 'tir'):
            frames.add(int(fields[0]))
        else:
            bad.append(number)
    if bad:
        _logger.warning("%s: %d lines are not '<frame>\\t<rgb|tir>\\t<reason>' records (first at line %d)",
                        path, len(bad), bad[0])
    return len(frames)


def _warn_non_finite(path: Path, boxes: Optional[np.ndarray]) -> None:
    """Rows with NaN or inf (a tracker that lost the target) score as failures: said once per file."""
    if boxes is None:
        return
    bad = ~np.all(np.isfinite(boxes), axis=1)
    if bad.any():
        _logger.warning("%s: %d of %d rows are not finite (first at line %d); they count as failed frames",
                        path, int(bad.sum()), len(boxes), int(np.argmax(bad)) + 1)


def describe_problems(results: List[TrackerResults]) -> str:
    lines = [f"{r.name}: {message}" for r in results for message in r.problems.values()]
    shown = lines[:20] + ([f"... and {len(lines) - 20} more"] if len(lines) > 20 else [])
    return '\n  '.join(shown)
