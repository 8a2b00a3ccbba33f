"""Running trackers over data sets: result files in pytracking's format written atomically,
finished sequences skipped (so an interrupted run resumes), sequences in parallel workers.

A results folder records the network its results came from (`network.json`: path and SHA-256);
a run with another network in the same folder is refused instead of mixing results. A result file
counts as finished only when it has one box per frame (an empty or cut file is tracked again)."""
import json
import logging
import multiprocessing
import os
import time
import traceback
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from ltr.admin.atomic import atomic_savetxt, atomic_write_text
from ltr.admin.loading import file_sha256
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.tracker import Tracker
from rgbt.benchmarks import AnnotationError, read_boxes

_logger = logging.getLogger(__name__)

NETWORK_RECORD = 'network.json'


class ResultsMismatchError(RuntimeError):
    """A results folder holds results of another network than the one about to run."""


def claim_results_dir(tracker: Tracker) -> dict:
    """Records the tracker's network in its results folder, or raises ResultsMismatchError when the
    folder already records a different network (by checksum; a moved file is the same network)."""
    network = tracker.get_parameters().net.resolve()
    record = {'path': str(Path(network).resolve()), 'sha256': file_sha256(network)}
    record_file = tracker.results_dir / NETWORK_RECORD
    if record_file.is_file():
        previous = json.loads(record_file.read_text())
        if previous.get('sha256') != record['sha256']:
            raise ResultsMismatchError(
                f"{tracker.results_dir} holds results of network {previous.get('path')} (sha256 "
                f"{str(previous.get('sha256'))[:12]}), not of {record['path']} (sha256 {record['sha256'][:12]}). "
                f"Use another --runid, or delete the folder to start afresh.")
    else:
        atomic_write_text(record_file, json.dumps(record, indent=1) + '\n')
    return record


def is_finished(box_file: Path, num_frames: int) -> bool:
    """True when `box_file` holds one box per frame; a partial, empty or unreadable file is reported."""
    if not box_file.is_file():
        return False
    try:
        rows = len(read_boxes(box_file))
    except AnnotationError as err:
        _logger.warning("%s is unreadable (%s): tracking the sequence again", box_file, err)
        return False
    if rows != num_frames:
        _logger.warning("%s has %d boxes for %d frames: tracking the sequence again", box_file, rows, num_frames)
        return False
    return True


def default_num_threads() -> int:
    """Torch threads for a tracking run: the cores this process may use minus those that other processes
    keep busy right now. All cores on a loaded machine oversubscribe it: a run fell from 27 to 0.6 FPS
    beside another job, and kept 27 FPS with one thread."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    return max(1, min(cores, cores - _busy_cores_elsewhere()))


def _busy_cores_elsewhere(samples: int = 5) -> int:
    """Runnable threads of other processes: Linux's running count (/proc/loadavg) minus this process's
    own runnable threads (its OpenMP pool may spin), the least of a few samples 10 ms apart; 0 where
    /proc is missing. The 1-minute load average would count this process's own recent work (training
    just before tracking) as someone else's."""
    counts = []
    for _ in range(samples):
        try:
            with open('/proc/loadavg') as handle:
                running = int(handle.read().split()[3].split('/')[0])
            counts.append(running - _own_running_threads())
        except (OSError, IndexError, ValueError):
            return 0
        time.sleep(0.01)
    return max(0, min(counts))


def _own_running_threads() -> int:
    count = 0
    for task in os.listdir('/proc/self/task'):
        try:
            with open(f'/proc/self/task/{task}/stat') as handle:
                count += handle.read().rsplit(')', 1)[1].split()[0] == 'R'
        except OSError:
            continue                       # the thread ended meanwhile
    return count


def set_num_threads(threads: Optional[int] = None) -> int:
    """Sets torch's thread count (default: OMP_NUM_THREADS when set, else default_num_threads())."""
    import torch
    if threads is None:
        threads = int(os.environ['OMP_NUM_THREADS']) if os.environ.get('OMP_NUM_THREADS') else default_num_threads()
    torch.set_num_threads(threads)
    return threads


def result_paths(tracker: Tracker, sequence: Sequence) -> Tuple[Path, Path]:
    return tracker.results_dir / f"{sequence.name}.txt", tracker.results_dir / f"{sequence.name}_time.txt"


def save_results(tracker: Tracker, sequence: Sequence, output: dict) -> None:
    """`<seq>_time.txt` first, `<seq>.txt` last: a box file exists only for a finished sequence.
    Boxes are written as pytracking does: tab-delimited, truncated to integers."""
    box_file, time_file = result_paths(tracker, sequence)
    missing_file = tracker.results_dir / f"{sequence.name}_missing.txt"
    if output.get('missing'):
        lines = ['# frame\tmodality\treason'] + [f"{i}\t{m}\t{r}" for i, m, r in output['missing']]
        atomic_write_text(missing_file, '\n'.join(lines) + '\n')
        _logger.warning("%s: %d frames tracked with a missing modality (%s)", sequence.name,
                        len(output['missing']), missing_file)
    else:
        missing_file.unlink(missing_ok=True)
    atomic_savetxt(time_file, np.asarray(output['time'], dtype=np.float64), '%f')
    atomic_savetxt(box_file, np.asarray(output['target_bbox'], dtype=np.float64).astype(np.int64), '%d')


def run_sequence(sequence: Sequence, tracker: Tracker, debug: int = 0, device_index: Optional[int] = None) -> dict:
    """Runs and saves one sequence unless its results exist. Returns a status dict (never raises)."""
    box_file, _ = result_paths(tracker, sequence)
    if not debug and is_finished(box_file, len(sequence.frames)):
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
                num_gpus: int = 0, torch_threads: Optional[int] = None) -> List[dict]:
    """Runs every tracker on every sequence (sequentially, or in `threads` spawned processes spread
    over `num_gpus` GPUs); shows sequences done and frames per second; returns the statuses.

    `torch_threads`: CPU threads of a sequential run (default: see set_num_threads); parallel workers
    share the cores. Raises ResultsMismatchError before any work when a results folder belongs to
    another network."""
    for tracker in trackers:
        claim_results_dir(tracker)
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
        cpu_threads = set_num_threads(torch_threads)
        for job in jobs:
            record(_worker(job))
    bar.close()
    done = [s for s in statuses if s['status'] == 'done']
    fps = frames / seconds if seconds else float('nan')
    print(f"done {len(done)}, skipped {sum(s['status'] == 'skipped' for s in statuses)}, "
          f"failed {len(statuses) - len(done) - sum(s['status'] == 'skipped' for s in statuses)}; "
          f"average FPS {fps:.1f} ({frames} frames; {cpu_threads} torch threads"
          f"{f' in each of {threads} workers' if threads > 0 else ''})")
    return statuses
