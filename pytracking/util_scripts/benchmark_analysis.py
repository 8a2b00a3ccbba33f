"""Times scoring LasHeR test-set results (PR, NPR, SR) with this package and, when installed, with
the `rgbt` toolkit (PyPI rgbt==1.0.1) on the same files, in the same run.

    python pytracking/util_scripts/benchmark_analysis.py --raw-results ../shared/data/raw_results/lasher_test \
        --annotations ../shared/data/benchmark_annotations [--repeats 3]

`--annotations` is a folder with LasHeR/lasher_gt/<seq>.txt and LasHeR/lashertest.txt (the
toolkit's layout); an annotation-only LasHeR tree is built from it in a temporary folder.

The toolkit's import name `rgbt` is this package's too, so it cannot share the environment: install
it into a folder of its own (`pip install --no-deps --target /tmp/rgbt_toolkit rgbt==1.0.1`) and pass
`--rgbt-toolkit /tmp/rgbt_toolkit`; it is timed in a subprocess that imports it from there.
"""
import argparse
import json
import subprocess
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

from pytracking.analysis.extract_results import evaluate_folders  # noqa: E402
from rgbt.benchmarks import read_name_list  # noqa: E402


def build_lasher_tree(annotations: Path, root: Path) -> None:
    for name in read_name_list(annotations / 'LasHeR' / 'lashertest.txt'):
        (root / name).mkdir(parents=True)
        shutil.copy(annotations / 'LasHeR' / 'lasher_gt' / f"{name}.txt", root / name / 'init.txt')


def time_ours(root: Path, folders: dict, repeats: int):
    times, evaluation = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        evaluation = evaluate_folders('lasher', folders, dataset_root=root)
        times.append(time.perf_counter() - start)
    return statistics.median(times), evaluation


_TOOLKIT_RUN = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import rgbt
assert hasattr(rgbt, 'LasHeR'), rgbt.__file__
folders = json.loads(sys.argv[2])
start = time.perf_counter()
dataset = rgbt.LasHeR()
for name, folder in folders.items():
    dataset(tracker_name=name, result_path=folder + os.sep, bbox_type='ltwh')
scores = {m: {n: float(v[0]) for n, v in getattr(dataset, m)().items()} for m in ('PR', 'NPR', 'SR')}
print(json.dumps({'seconds': time.perf_counter() - start, 'scores': scores}))
"""


def time_rgbt(toolkit_dir: Path, folders: dict):
    """Seconds and scores of the rgbt toolkit, run in a subprocess from its own folder."""
    with tempfile.TemporaryDirectory() as cwd:
        out = subprocess.run([sys.executable, '-c', _TOOLKIT_RUN, str(toolkit_dir),
                              json.dumps({n: str(Path(f).resolve()) for n, f in folders.items()})],
                             cwd=cwd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result['seconds'], result['scores']


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--raw-results', required=True, type=Path)
    parser.add_argument('--annotations', required=True, type=Path)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--rgbt-toolkit', type=Path, help='folder holding the rgbt toolkit (pip --target)')
    args = parser.parse_args()
    folders = {p.name: p for p in sorted(args.raw_results.iterdir()) if p.is_dir()}
    with tempfile.TemporaryDirectory() as tmp:
        build_lasher_tree(args.annotations, Path(tmp))
        ours, evaluation = time_ours(Path(tmp), folders, args.repeats)
    print(f"{len(folders)} trackers x {len(evaluation.sequence_names)} sequences, {os.cpu_count()} CPUs")
    print(f"cmd-rgbt (parse + PR/NPR/SR, median of {args.repeats}): {ours:.2f} s")
    if args.rgbt_toolkit is None:
        print("rgbt toolkit not timed (give --rgbt-toolkit DIR)")
        return
    theirs, scores = time_rgbt(args.rgbt_toolkit, folders)
    print(f"rgbt 1.0.1 toolkit (same files): {theirs:.2f} s  -> {theirs / ours:.1f}x faster")
    worst = max(abs(evaluation.trackers[n]['scores'][m] - 100 * scores[m][n])
                for n in folders for m in ('PR', 'NPR', 'SR'))
    print(f"largest score difference to rgbt: {worst:.3f} points (rgbt rounds result files to integers)")


if __name__ == '__main__':
    main()
