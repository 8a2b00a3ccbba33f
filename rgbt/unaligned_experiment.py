"""Tracking with an unaligned thermal camera: stretched frames, the true registration, the estimated
one (issue 26, section 3).

    python -m rgbt.unaligned_experiment --net CHECKPOINT [--sequences 10] [--frames 100]
                                        [--threads 1] [--out DIR]

Generates the unaligned synthetic rig (`python -m rgbt.synthetic --unaligned`: per sequence a
thermal camera at 0.5-0.8 of the resolution, rotated within 3 degrees and shifted within 5%), then
tracks its test split three times with the same network: `stretch` (no registration, thermal
frames resized to the visible size: what the package did before), `true` (the generated
registration.json), `estimated` (`python -m rgbt.register` on the first 10 frame pairs; a sequence
where ECC finds no map is tracked stretched, and counted). Each row
reads the same frames through its own folder of links. Prints PR/NPR/SR per row and the estimate's
corner error (thermal pixels) against the stretch's, and writes `<out>/unaligned.md`.
"""
import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ltr.admin.atomic import atomic_write_text
from ltr.data.registration import REGISTRATION_FILE, find_registration, stretch_map
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker
from rgbt import register
from rgbt.miniature import METRICS, MINIATURE_TRACKING, default_out, machine, score
from rgbt.register import corner_error, write_registration
from rgbt.synthetic import SequenceSpec, generate_benchmark

ROWS = ('stretch', 'true', 'estimated')
ESTIMATION_FRAMES = 10          # first frame pairs ECC may try (the best-correlated one wins)


def stretch_registration(true, out: Path) -> None:
    """A registration.json that maps the frames as stretching does (the fields of view laid on each other)."""
    write_registration(out, stretch_map(true.rgb_size, true.tir_size), true.rgb_size, true.tir_size)


def row_root(root: Path, row: str) -> Path:
    """A benchmark root for `row` whose sequences link the rig's frame folders and hold the row's
    registration (none for `stretch`)."""
    target = root.parent / f"{root.name}_{row}"
    if (target / 'done').is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    for item in root.rglob('*'):
        relative = item.relative_to(root)
        if item.is_dir() and item.name in ('visible', 'infrared'):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(item.resolve(), target / relative)
        elif item.is_file() and item.name != REGISTRATION_FILE and 'visible' not in relative.parts \
                and 'infrared' not in relative.parts:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, target / relative)
    for sequence in sorted(p for p in (root / 'test').iterdir() if (p / 'visible').is_dir()):
        if row == 'true':
            shutil.copy2(sequence / REGISTRATION_FILE, target / 'test' / sequence.name / REGISTRATION_FILE)
        elif row == 'estimated':
            out = target / 'test' / sequence.name / REGISTRATION_FILE
            try:
                register.main([str(sequence), '--frames', str(ESTIMATION_FRAMES), '--out', str(out)])
            except SystemExit as err:
                # ECC found no map: the sequence is tracked as a user without one would (stretched
                # frames), and the report counts it.
                print(f"{sequence.name}: not estimated ({err}); tracked with the stretch")
                stretch_registration(find_registration(sequence), out)
                with open(target / 'not_estimated.txt', 'a') as handle:
                    handle.write(sequence.name + '\n')
    (target / 'done').write_text('')
    return target


def corner_errors(root: Path, estimated_root: Path):
    """(estimated, stretch) mean corner errors in thermal pixels over the test sequences."""
    estimated, stretched = [], []
    for sequence in sorted(p for p in (root / 'test').iterdir() if (p / 'visible').is_dir()):
        true = find_registration(sequence)
        guess = find_registration(estimated_root / 'test' / sequence.name)
        estimated.append(corner_error(guess.tir_from_rgb, true.tir_from_rgb, true.rgb_size))
        stretched.append(corner_error(stretch_map(true.rgb_size, true.tir_size), true.tir_from_rgb, true.rgb_size))
    return float(np.mean(estimated)), float(np.mean(stretched))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rgbt.unaligned_experiment', description=__doc__.splitlines()[0])
    parser.add_argument('--net', required=True, help='network file or checkpoint folder (e.g. a miniature student)')
    parser.add_argument('--sequences', type=int, default=10)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', default=None, help='experiment folder (default: <workspace>/unaligned)')
    args = parser.parse_args(argv)
    out = default_out('unaligned', args.out)
    root = generate_benchmark(out / 'data' / 'rig', 'rgbt234', {'train': 0, 'test': args.sequences},
                              SequenceSpec(num_frames=args.frames, unaligned=True), seed=0)
    folders, roots = {}, {}
    for row in ROWS:
        roots[row] = row_root(root, row)
        overrides = {**MINIATURE_TRACKING, 'threads': args.threads, 'resize_tir': row == 'stretch'}
        tracker = Tracker('cmd_student', 'synthetic', net_path=args.net, results_dir=out / 'results' / row,
                          param_overrides=overrides)
        statuses = run_dataset(get_dataset('synthetic', root=roots[row], require_frames=True), [tracker])
        failed = [s for s in statuses if s['status'] == 'failed']
        if failed:
            raise SystemExit(f"{row} failed on {failed[0]['sequence']}: {failed[0]['error']}")
        folders[row] = tracker.results_dir
    scores = score(folders, roots['true'])
    estimated, stretched = corner_errors(root, roots['estimated'])
    lines = [f"Unaligned synthetic rig, {args.sequences} test sequences x {args.frames} frames; network {args.net}; "
             f"{machine(args.threads)}.", '', f"| thermal patch | {' | '.join(METRICS)} |", '|---|' + '---|' * len(METRICS)]
    lines += [f"| {row} | {' | '.join(f'{scores[row][m]:.1f}' for m in METRICS)} |" for row in ROWS]
    not_estimated = roots['estimated'] / 'not_estimated.txt'
    failures = not_estimated.read_text().split() if not_estimated.is_file() else []
    lines += ['', f"Corner error of the estimated registration: {estimated:.2f} thermal pixels (mean over sequences); "
                  f"of the stretch: {stretched:.2f}. ECC found no map for {len(failures)} of {args.sequences} "
                  f"sequences (tracked with the stretch in the estimated row{': ' + ', '.join(failures) if failures else ''})."]
    text = '\n'.join(lines) + '\n'
    atomic_write_text(out / 'unaligned.md', text)
    atomic_write_text(out / 'unaligned.json', json.dumps({'scores': scores, 'corner_error': {
        'estimated': estimated, 'stretch': stretched}, 'not_estimated': failures}, indent=1))
    print(text)


if __name__ == '__main__':
    main()
