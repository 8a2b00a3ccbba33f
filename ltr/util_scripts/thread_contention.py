"""Seconds per training iteration alone and beside a CPU-bound neighbour, by thread count and
OpenMP wait policy (issue 23, section 1: training beside two other processes ran 10x slower).

    python ltr/util_scripts/thread_contention.py [--setting student] [--iterations 8]
        [--threads 1 2] [--wait-policy default passive] [--neighbour 0 2] [--json FILE]

Each combination runs in a fresh process (OpenMP reads OMP_WAIT_POLICY when it loads) that trains
`--iterations` miniature iterations of `--setting` with the real training code and times each
optimisation step; the median of the steps after the first is reported. `--neighbour N` starts a
process that keeps N threads busy with float32 matrix products for the duration (0: none; other
work on the machine is not controlled, so run it on a quiet machine). The trained numbers are not
used: only the time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
from ltr import run_training  # noqa: E402
from ltr.trainers.ltr_trainer import LTRTrainer  # noqa: E402
from rgbt.miniature import miniature_config, prepare_benchmark  # noqa: E402
from ltr.admin.threads import available_cpus, cpu_model  # noqa: E402

NEIGHBOUR = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


def worker(setting: str, iterations: int, threads: int) -> None:
    """Trains and prints one JSON line with the step times (run in its own process)."""
    times = []
    step = LTRTrainer.step

    def timed(self, data, training=True):
        start = time.perf_counter()
        stats = step(self, data, training)
        times.append(time.perf_counter() - start)
        return stats
    LTRTrainer.step = timed
    with tempfile.TemporaryDirectory() as folder:
        synthetic = prepare_benchmark(Path(folder), train=4, test=1, frames=30)
        paths = {'workspace_dir': Path(folder) / 'ws', 'tensorboard_dir': Path(folder) / 'tb', 'synthetic_dir': synthetic}
        config = miniature_config(iterations, seed=0, epochs=1, threads=threads)
        run_training.train('cmd', setting, config, 'cpu', paths=paths)
    print(json.dumps({'step_seconds': times}))


def measure(setting: str, iterations: int, threads: int, policy: str, neighbour: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop('OMP_WAIT_POLICY', None)
    if policy != 'default':
        env['OMP_WAIT_POLICY'] = policy.upper()
    busy = subprocess.Popen([sys.executable, '-c', NEIGHBOUR, str(neighbour)]) if neighbour else None
    try:
        done = subprocess.run([sys.executable, __file__, '--worker', setting, str(iterations), str(threads)],
                              env=env, capture_output=True, text=True, check=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    steps = json.loads(done.stdout.strip().splitlines()[-1])['step_seconds']
    return {'threads': threads, 'wait_policy': policy, 'neighbour_threads': neighbour,
            'median_s_per_iteration': statistics.median(steps[1:]), 'steps': len(steps)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--setting', default='student')
    parser.add_argument('--iterations', type=int, default=8)
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--wait-policy', nargs='+', default=['default', 'passive'], choices=('default', 'passive', 'active'))
    parser.add_argument('--neighbour', type=int, nargs='+', default=[0, 2])
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    rows = []
    print(f"{cpu_model()}, {available_cpus()} CPUs; {args.setting}, {args.iterations} iterations per run")
    for neighbour in args.neighbour:
        for threads in args.threads:
            for policy in args.wait_policy:
                row = measure(args.setting, args.iterations, threads, policy, neighbour)
                rows.append(row)
                print(f"neighbour {neighbour} threads, torch {threads} threads, OMP_WAIT_POLICY {policy}: "
                      f"{row['median_s_per_iteration']:.2f} s/iteration", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({'cpu': cpu_model(), 'rows': rows}, indent=1))


if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == '--worker':
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
