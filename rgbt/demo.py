"""The embedded default: CMD end to end on the synthetic RGB-T benchmark, in one command.

    python -m rgbt.demo [--minutes 30] [--seed 0] [--out DIR] [--device auto|cpu|cuda] [--fresh]

1. generates the synthetic benchmark (train and test splits);
2. trains the teacher, Student-Origin, the MPSD student without distillation (the control) and the
   CMD student (student_distill, from that teacher) with the real training code (the smoke
   profile's crops, rgbt.miniature), iterations sized to the time budget; saves the untrained
   student (random weights: the floor);
3. tracks the test split with the five (the real online tracker);
4. scores them with the real evaluation and writes a report folder: report.md (PR, NPR, SR, FPS,
   parameters, as the paper's Table 5), success and precision plots, and an image strip of one
   test sequence with every tracker's box and the ground truth;
5. prints the table and the report path.
Re-running reuses every finished stage (data, checkpoints, results); --fresh starts over.
"""
import argparse
import shutil
import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from ltr.admin.atomic import atomic_write_text
from ltr.admin.loading import checkpoint_path, load_network
from pytracking.analysis import evaluate_folders, plot_results
from pytracking.analysis.results import load_tracker_results
from pytracking.evaluation.datasets import get_dataset
from pytracking.util_scripts.playback import annotated_image, render_frames, with_legend, write
from rgbt.benchmarks import Synthetic
from rgbt.miniature import (EPOCHS, ROWS, VERDICT_ROWS, checkpoint_dir, default_out,  # noqa: F401
                            iteration_budget, machine, parse_overrides, resolve_device, track_setting, train_setting,
                            trained_iterations)
from rgbt.synthetic import SequenceSpec, generate_benchmark

DEFAULT_MINUTES = 30.0
# Our choice for the demo's CMD student, not the paper's: SCFD's targets normalised per channel
# (docs/distillation.md; chosen on seeds 0-2, so those seeds are not evidence for it);
# `--set scfd_target_norm=none` gives the paper's targets.
DEMO_DISTILL_SETTINGS = {'scfd_target_norm': 'channel_std'}


def benchmark_size(minutes: float):
    """Train/test sequences and frames for the budget (tracking costs grow with the test split)."""
    if minutes < 5:
        return {'train': 4, 'test': 2}, 30
    return {'train': 12, 'test': 10}, 100          # 1000 test frames: less noise than 360


def stage(message: str) -> None:
    print(f"\n== {message}", flush=True)


def training_iterations(minutes: float, device: str):
    """(teacher iterations, iterations of each student) for the budget. Every student trains the same
    number of iterations on the same samples, as the paper compares them; the budget pays for the
    distillation's extra time per iteration and for a teacher trained TEACHER_ITERATION_RATIO times
    as long as each student."""
    seconds = 60 * minutes * 0.85 * (10.0 if device == 'cuda' else 1.0)     # the rest: data and tracking
    students, teacher = iteration_budget(seconds, [ROWS[name].setting for name in VERDICT_ROWS])
    return teacher, students


def synthetic_root(out: Path) -> Path:
    """The demo's synthetic benchmark, inside its folder."""
    return out / 'data' / 'synthetic'


def train_all(out: Path, minutes: float, device: str, seed: int = 0, distill_overrides=None,
              threads=None) -> None:
    teacher, student = training_iterations(minutes, device)
    settings = ['teacher'] + [ROWS[name].setting for name in VERDICT_ROWS if name != 'Teacher']
    for setting in settings:
        iterations = teacher if setting == 'teacher' else student
        stage(f"training {setting}: {iterations} iterations in {EPOCHS} epochs")
        overrides = {**(distill_overrides or {} if setting == 'student_distill' else {}),
                     **({'threads': threads} if threads else {})}
        train_setting(out, setting, iterations, device, seed, synthetic_root(out), epochs=EPOCHS, overrides=overrides)


def track_all(out: Path, device: str, threads=None):
    folders = {}
    for name in VERDICT_ROWS:
        row = ROWS[name]
        stage(f"tracking the test split with {name}")
        folders[name] = track_setting(out, row.setting, row.tracker, out / 'results' / row.setting,
                                      synthetic_root(out), device=device, threads=threads)
    return get_dataset('synthetic', root=synthetic_root(out), require_frames=True), folders


def tracker_fps(folder: Path) -> float:
    """Frames per second from pytracking time files (initialisation excluded)."""
    frames, seconds = 0, 0.0
    for path in folder.glob('*_time.txt'):
        times = np.atleast_1d(np.loadtxt(path))
        frames += len(times) - 1
        seconds += float(times[1:].sum())
    return frames / seconds if seconds else float('nan')


def report_sequence(folders, name: str, synthetic: Path):
    """The test sequence the report shows (read once) and each tracker's boxes on it."""
    sequence = Synthetic(synthetic, 'test').load_sequence(name, require_frames=True)
    results = {tracker: load_tracker_results(tracker, folder, {name: len(sequence)}).boxes[name]
               for tracker, folder in folders.items()}
    return sequence, results


def image_strip(sequence, results, path: Path, columns: int = 4) -> None:
    """RGB over TIR frames of one sequence with the ground truth (white) and each tracker's box."""
    indices = np.linspace(0, len(sequence) - 1, columns).astype(int)
    rows = [np.concatenate([annotated_image(sequence, results, index, modality) for index in indices], axis=1)
            for modality in (0, 1)]
    strip = with_legend(np.concatenate(rows, axis=0), list(results))
    cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))


def animate(sequence, results, path: Path) -> None:
    """The test sequence with every tracker's box, RGB and TIR side by side, as a GIF (playback.py)."""
    write(render_frames(sequence, results, every=2, scale=0.5), path, fps=10)


def verdict_lines(scores: Dict[str, Dict[str, float]]) -> List[str]:
    """What this one run shows, row against row in SR, no more: distillation against its control,
    the control against Student-Origin, each student against the floor, the teacher against both."""
    sr = {name: round(values['SR'], 1) for name, values in scores.items()}

    def compare(a: str, b: str) -> str:
        relation = 'above' if sr[a] > sr[b] else ('level with' if sr[a] == sr[b] else 'below')
        return f"{a} {relation} {b} ({sr[a]:.1f} vs {sr[b]:.1f}, {sr[a] - sr[b]:+.1f})"

    floor = 'Untrained student'
    return [f"- Distillation: {compare('CMD student', 'MPSD student, no distillation')}.",
            f"- Fusion: {compare('MPSD student, no distillation', 'Student-Origin')}.",
            f"- Against Student-Origin: {compare('CMD student', 'Student-Origin')}.",
            f"- Learning at all: {compare('Student-Origin', floor)}; {compare('MPSD student, no distillation', floor)}.",
            f"- Teacher: {compare('Teacher', 'CMD student')}; {compare('Teacher', 'Student-Origin')}.",
            "One seed is one sample: docs/distillation.md states the criterion and the verdict over held-out seeds."]


def write_report(out: Path, sequences, folders, minutes: float, started: float, device: str, seed: int = 0,
                 distill_overrides=None, threads=None) -> Path:
    report = out / 'report'
    report.mkdir(parents=True, exist_ok=True)
    evaluation = evaluate_folders('synthetic', folders, dataset_root=synthetic_root(out))
    plot_results(evaluation, report, plot_types=('success', 'prec'), per_attribute=False)
    sequence, results = report_sequence(folders, sequences[0].name, synthetic_root(out))
    image_strip(sequence, results, report / 'sequence_strip.png')
    animate(sequence, results, report / 'sequence.gif')
    table = ['| Tracker | PR | NPR | SR | FPS | Params (M) | trained iterations |', '|---|---|---|---|---|---|---|']
    for name in VERDICT_ROWS:
        setting = ROWS[name].setting
        net, _ = load_network(checkpoint_path(checkpoint_dir(out, setting)))
        scores = evaluation.trackers[name]['scores']
        table.append(f"| {name} | {scores['PR']:.1f} | {scores['NPR']:.1f} | {scores['SR']:.1f} | "
                     f"{tracker_fps(folders[name]):.1f} | {sum(p.numel() for p in net.parameters()) / 1e6:.2f} | "
                     f"{trained_iterations(out, setting)} |")
    verdict = verdict_lines({name: evaluation.trackers[name]['scores'] for name in VERDICT_ROWS})
    text = ["# CMD-RGBT demo report", '',
            f"Synthetic RGB-T benchmark, test split: {len(evaluation.sequence_names)} sequences, "
            f"{evaluation.trackers[VERDICT_ROWS[0]]['frames']} frames. Budget {minutes:g} min on {device} "
            f"({machine(threads)}), training seed {seed}; this run took {(time.time() - started) / 60:.1f} min. "
            f"Networks trained from random initialisation (no ImageNet weights) at 128x128 crops, so "
            f"absolute scores are low; the numbers come from the real training, tracker and evaluation code. "
            f"The untrained student is Student-Origin's network with random weights (the floor); the MPSD "
            f"student without distillation is the CMD student's network and schedule with no teacher (its control)." +
            (f" The CMD student's settings changed from the miniature's: {distill_overrides}." if distill_overrides else ''),
            '', *table, '', *verdict, '',
            '![success plot](success_plot.png) ![precision plot](precision_plot.png)', '',
            '![test sequence](sequence_strip.png)', '', '![test sequence, animated](sequence.gif)', '']
    atomic_write_text(report / 'report.md', '\n'.join(text))
    print('\n'.join(table))
    print('\n'.join(verdict))
    return report / 'report.md'


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rgbt.demo', description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=DEFAULT_MINUTES,
                        help='time budget (sizes data and training); 3 is a quick pipeline check')
    parser.add_argument('--seed', type=int, default=0,
                        help='training seed (network initialisation and samples); the benchmark is the same for every seed')
    parser.add_argument('--out', default=None, help='demo folder (default: <workspace>/demo)')
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--fresh', action='store_true', help='delete the demo folder first')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads of training and tracking (default: OMP_NUM_THREADS, else the CPUs '
                             'this process may use; never the machine\'s load); the scores depend on it')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='a training setting of the CMD student (TrainConfig field), over the demo\'s '
                             f'{DEMO_DISTILL_SETTINGS}, e.g. scfd_target_norm=none for the paper\'s SCFD targets; '
                             'use a fresh --out (finished trainings are reused)')
    args = parser.parse_args(argv)
    distill_overrides = {**DEMO_DISTILL_SETTINGS, **parse_overrides(parser, args.set)}
    device = resolve_device(args.device)
    out = default_out('demo', args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    # Everything of the demo lives in its folder (data, checkpoints, results, report), passed to
    # training and tracking as paths: nothing outside it is read or written.
    started = time.time()

    sequences, frames = benchmark_size(args.minutes)
    stage(f"synthetic benchmark: {sequences['train']} train + {sequences['test']} test sequences of {frames} frames")
    generate_benchmark(synthetic_root(out), 'rgbt234', sequences, SequenceSpec(num_frames=frames), seed=0)
    train_all(out, args.minutes, device, args.seed, distill_overrides, args.threads)
    test_sequences, folders = track_all(out, device, args.threads)
    stage('evaluation and report')
    report = write_report(out, test_sequences, folders, args.minutes, started, device, args.seed, distill_overrides,
                          args.threads)
    print(f"\nreport: {report}")


if __name__ == '__main__':
    main()
