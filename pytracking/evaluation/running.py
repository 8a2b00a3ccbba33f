"""Running trackers over data sets: result files in pytracking's format written atomically,
finished sequences skipped (so an interrupted run resumes), sequences in parallel workers."""
import logging
import multiprocessing
import os
import time
import traceback
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from ltr.admin.atomic import atomic_savetxt
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.tracker import Tracker

_logger = logging.getLogger(__name__)


def result_paths(tracker: Tracker, sequence: Sequence) -> Tuple[Path, Path]:
    return tracker.results_dir / f"{sequence.name}.txt", tracker.results_dir / f"{sequence.name}_time.txt"


def save_results(tracker: Tracker, sequence: Sequence, output: dict) -> None:
    """`<seq>_time.txt` first, `<seq>.txt` last: a box file exists only for a finished sequence.
    Boxes are written as pytracking does: tab-delimited, truncated to integers."""
    box_file, time_file = result_paths(tracker, sequence)
    atomic_savetxt(time_file, np.asarray(output['time'], dtype=np.float64), '%f')
    atomic_savetxt(box_file, np.asarray(output['target_bbox'], dtype=np.float64).astype(np.int64), '%d')


def run_sequence(sequence: Sequence, tracker: Tracker, debug: int = 0, device_index: Optional[int] = None) -> dict:
    """Runs and saves one sequence unless its results exist. Returns a status dict (never raises)."""
    box_file, _ = result_paths(tracker, sequence)
    if box_file.is_file() and not debug:
        return {'sequence': sequence.name, 'status': 'skipped', 'frames': 0, 'seconds': 0.0}
    if device_index is not None:
        import torch
        if torch.cuda.is_available():
            torch.cuda.set_device(device_index)
    try:
        output = tracker.run_sequence(sequence, debug=debug)
    except Exception as err:  # one failing sequence must not stop the others: reported at the end
        if debug:
            raise
        return {'sequence': sequence.name, 'status': 'failed', 'error': f"{type(err).__name__}: {err}",
                'traceback': traceback.format_exc(), 'frames': 0, 'seconds': 0.0}
    save_results(tracker, sequence, output)
    return {'sequence': sequence.name, 'status': 'done', 'frames': len(output['time']) - 1,
            'seconds': float(sum(output['time'][1:]))}


def _limit_threads(num_threads: int) -> None:
    import torch
    torch.set_num_threads(num_threads)


def _worker(job):
    sequence, tracker, debug, device_index = job
    return run_sequence(sequence, tracker, debug, device_index)


def run_dataset(dataset: List[Sequence], trackers: List[Tracker], debug: int = 0, threads: int = 0,
                num_gpus: int = 0) -> List[dict]:
    """Runs every tracker on every sequence (sequentially, or in `threads` spawned processes spread
    over `num_gpus` GPUs); shows sequences done and frames per second; returns the statuses."""
    jobs = [(seq, tracker, debug, (i % num_gpus) if num_gpus else None)
            for tracker in trackers for i, seq in enumerate(dataset)]
    statuses = []
    bar = tqdm(total=len(jobs), desc='sequences', unit='seq')
    frames, seconds = 0, 0.0

    def record(status):
        nonlocal frames, seconds
        statuses.append(status)
        frames += status['frames']
        seconds += status['seconds']
        bar.set_postfix(fps=f"{frames / seconds:.1f}" if seconds else '-', failed=sum(s['status'] == 'failed' for s in statuses))
        bar.update(1)
        if status['status'] == 'failed':
            _logger.error("%s failed: %s", status['sequence'], status['error'])

    if threads > 0:
        # Each worker gets its share of the cores: N workers of all-core torch would oversubscribe.
        cpu_threads = max(1, (os.cpu_count() or 1) // threads)
        with multiprocessing.get_context('spawn').Pool(threads, initializer=_limit_threads,
                                                        initargs=(cpu_threads,)) as pool:
            for status in pool.imap_unordered(_worker, jobs):
                record(status)
    else:
        for job in jobs:
            record(_worker(job))
    bar.close()
    done = [s for s in statuses if s['status'] == 'done']
    fps = frames / seconds if seconds else float('nan')
    print(f"done {len(done)}, skipped {sum(s['status'] == 'skipped' for s in statuses)}, "
          f"failed {len(statuses) - len(done) - sum(s['status'] == 'skipped' for s in statuses)}; "
          f"average FPS {fps:.1f} ({frames} frames)")
    return statuses
