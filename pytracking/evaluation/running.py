"""Running trackers over data sets: result files in pytracking's format written atomically,
finished sequences skipped (so an interrupted run resumes), sequences in parallel workers.

A results folder records the network its results came from (`network.json`: path and SHA-256);
a run with another network in the same folder is refused instead of mixing results. A result file
counts as finished only when it has one box per frame (an empty or cut file is tracked again)."""
import json
import logging
import multiprocessing
import os
import traceback
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from ltr.admin.atomic import atomic_savetxt, atomic_write_text
from ltr.admin.json_files import read_json_object
from ltr.admin.loading import file_sha256
from ltr.admin.paths import child_path
from ltr.admin.threads import available_cpus, use_threads
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.tracker import Tracker
from rgbt.benchmarks import AnnotationError, read_boxes

_logger = logging.getLogger(__name__)

NETWORK_RECORD = 'network.json'


class ResultsFolderError(RuntimeError):
    """A results folder that cannot be used; the message names it and why."""


class ResultsMismatchError(ResultsFolderError):
    """A results folder holds results of another network than the one about to run."""


def data_root(dataset: List[Sequence]) -> Optional[Path]:
    """The folder holding the data set's sequence folders (None without frames)."""
    parents = [os.path.dirname(folder) for folder in (sequence.folder() for sequence in dataset) if folder is not None]
    return Path(os.path.commonpath(parents)).resolve() if parents else None


def check_outside_data(tracker: Tracker, dataset: List[Sequence]) -> None:
    """Refuses a results folder that is the data set's folder or inside it: its files would mix with
    the frames, and a later run could read the results folder as a sequence."""
    root = data_root(dataset)
    results = Path(tracker.results_dir).resolve()
    if root is not None and (results == root or root in results.parents):
        raise ResultsFolderError(f"results folder {tracker.results_dir} is inside the data set's folder {root}: "
                                 f"results must go elsewhere (set results_path / RGBT_RESULTS_PATH)")


def claim_results_dir(tracker: Tracker, torch_threads: Optional[int] = None) -> dict:
    """Records the tracker's network (and the thread count of the run) in its results folder, or raises
    ResultsMismatchError when the folder already records a different network (by checksum; a moved
    file is the same network)."""
    network = tracker.get_parameters().net.resolve()
    record = {'path': str(Path(network).resolve()), 'sha256': file_sha256(network), 'torch_threads': torch_threads}
    record_file = tracker.results_dir / NETWORK_RECORD
    if record_file.is_file():
        try:
            previous = read_json_object(record_file)
        except ValueError as err:
            raise ResultsMismatchError(f"{err}: the folder's results cannot be attributed to a network; "
                                       f"delete the folder or use another --runid") from None
        if previous.get('sha256') != record['sha256']:
            raise ResultsMismatchError(
                f"{tracker.results_dir} holds results of network {previous.get('path')} (sha256 "
                f"{str(previous.get('sha256'))[:12]}), not of {record['path']} (sha256 {record['sha256'][:12]}). "
                f"Use another --runid, or delete the folder to start afresh.")
        if torch_threads is not None and previous.get('torch_threads') not in (None, torch_threads):
            _logger.warning("%s holds results tracked with %s torch threads; this run uses %d (results can differ "
                            "in the last digits)", tracker.results_dir, previous.get('torch_threads'), torch_threads)
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


def set_num_threads(threads: Optional[int] = None) -> int:
    """Sets torch's thread count by the package's one policy (ltr.admin.threads): `threads`, else
    OMP_NUM_THREADS, else the CPUs this process may use; never the machine's current load."""
    return use_threads(threads)


def result_paths(tracker: Tracker, sequence: Sequence) -> Tuple[Path, Path]:
    """The box and time files of a sequence, checked to lie inside the tracker's results folder."""
    return result_file(tracker, sequence, '.txt'), result_file(tracker, sequence, '_time.txt')


def result_file(tracker: Tracker, sequence: Sequence, suffix: str) -> Path:
    return child_path(tracker.results_dir, f"{sequence.name}{suffix}", f"sequence name of {sequence.dataset}")


def save_results(tracker: Tracker, sequence: Sequence, output: dict) -> None:
    """`<seq>_time.txt` first, `<seq>.txt` last: a box file exists only for a finished sequence.
    Boxes are written as pytracking does: tab-delimited, truncated to integers."""
    box_file, time_file = result_paths(tracker, sequence)
    missing_file = result_file(tracker, sequence, '_missing.txt')
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
        import torch  # deferred: scoring imports this module without torch
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
    import torch  # deferred: scoring imports this module without torch
    torch.set_num_threads(num_threads)


def _worker(job):
    sequence, tracker, debug, device_index = job
    return run_sequence(sequence, tracker, debug, device_index)


def run_dataset(dataset: List[Sequence], trackers: List[Tracker], debug: int = 0, threads: int = 0,
                num_gpus: int = 0, torch_threads: Optional[int] = None) -> List[dict]:
    """Runs every tracker on every sequence (sequentially, or in `threads` spawned processes spread
    over `num_gpus` GPUs); shows sequences done and frames per second; returns the statuses.

    `torch_threads`: CPU threads of a sequential run (default: the first tracker's parameter
    `threads`, see set_num_threads); parallel workers share the cores. The count is recorded in each
    results folder's network.json. Raises ResultsFolderError before any work when a results folder
    lies inside the data set or (ResultsMismatchError) belongs to another network."""
    jobs = [(seq, tracker, debug, (i % num_gpus) if num_gpus else None)
            for tracker in trackers for i, seq in enumerate(dataset)]
    threads = min(threads, len(jobs))              # no idle workers
    if threads > 0:
        # Each worker gets its share of the cores: N workers of all-core torch would oversubscribe.
        cpu_threads = max(1, available_cpus() // threads)
    else:
        if torch_threads is None and trackers:
            torch_threads = trackers[0].get_parameters().get('threads')
        cpu_threads = set_num_threads(torch_threads)
    for tracker in trackers:
        check_outside_data(tracker, dataset)
    for tracker in trackers:
        claim_results_dir(tracker, cpu_threads)
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
          f"average FPS {fps:.1f} ({frames} frames; {cpu_threads} torch threads"
          f"{f' in each of {threads} workers' if threads > 0 else ''})")
    return statuses
