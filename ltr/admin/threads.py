"""One thread policy for training and tracking: the numbers a run produces must not depend on what
else the machine is doing.

A run uses the thread count it is given (TrainConfig.threads, the tracker parameter `threads`, a
command's --torch-threads), else OMP_NUM_THREADS, else the CPUs this process may use (its affinity
mask). It is never derived from the machine's current load: the float rounding of training, and
so the trained network and its scores, depend on torch's thread count (the same seed trained with
2 threads tracked at SR 34.9, with 1 thread at 24.7), and a count read from the load changes from
one run to the next.
"""
import logging
import os
from typing import Optional

from ltr.admin.variables import read_variable, set_default
import platform

_logger = logging.getLogger(__name__)


# OpenMP's wait policy when the user has not chosen one. Measured (docs/reliability.md, "Thread
# policy"; ltr/util_scripts/thread_contention.py, AMD EPYC, 2 cores): a 2-thread training step took
# 0.85 s alone and 2.78 s beside a 2-thread CPU-bound neighbour with GNU OpenMP's default (threads
# spin while they wait), 0.94 s and 1.77 s with PASSIVE (they sleep): near the fair share (2x) under
# contention, for about 10% alone.
DEFAULT_OMP_WAIT_POLICY = 'PASSIVE'


def default_openmp_wait_policy() -> None:
    """Sets OMP_WAIT_POLICY to DEFAULT_OMP_WAIT_POLICY unless it is set. OpenMP reads it when torch
    loads it, so the package roots (ltr, pytracking, rgbt) call this before anything imports torch;
    a process that imported torch first keeps its policy. OMP_WAIT_POLICY=ACTIVE restores spinning."""
    set_default('OMP_WAIT_POLICY', DEFAULT_OMP_WAIT_POLICY)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the CPU count where there is none)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def omp_num_threads() -> Optional[int]:
    """OMP_NUM_THREADS as a thread count: its first level for OpenMP's nested syntax ('4,2' -> 4);
    None when unset, and None with a warning when it is not a positive integer ('abc', '0')."""
    text = (read_variable('OMP_NUM_THREADS') or '').strip()
    if not text:
        return None
    first = text.split(',')[0].strip()
    if first.isdigit() and int(first) > 0:
        return int(first)
    _logger.warning("OMP_NUM_THREADS=%r is not a positive thread count: ignored", text)
    return None


def resolve_threads(requested: Optional[int] = None) -> int:
    """The thread count of a run: `requested` when positive, else OMP_NUM_THREADS, else available_cpus()."""
    if requested is not None:
        if isinstance(requested, bool) or not isinstance(requested, int) or requested <= 0:
            raise ValueError(f"threads must be a positive integer, got {requested!r}")
        return requested
    return omp_num_threads() or available_cpus()


def use_threads(requested: Optional[int] = None) -> int:
    """Sets torch's intra-op thread count by resolve_threads and returns it."""
    import torch  # deferred: evaluation and analysis import this module without torch
    threads = resolve_threads(requested)
    torch.set_num_threads(threads)
    return threads


def cpu_model() -> str:
    """The CPU's model name (for reports: absolute speeds differ between machines)."""
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown CPU'
