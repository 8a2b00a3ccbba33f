"""The paper's ablation tables in miniature, on the synthetic RGB-T benchmark, over several seeds.

    python -m rgbt.experiments table1 [--seeds 3] [--iterations 100] [--teacher-iterations 200]
                                      [--minutes M] [--out DIR] [--device auto|cpu|cuda]

Each row is a training setting (ltr/train_settings/cmd); for every seed the teacher and then each
row are trained with the real training code (smoke crops), the test split is tracked with the real
tracker and scored with the real evaluation. Every student row trains with the same number of
iterations and samples (distillation costs wall time, not iterations); the teacher has its own
count. The table (mean and standard deviation over seeds of PR, NPR, SR) goes to
`<out>/<table>.md` with a bar plot `<out>/<table>.png`. Everything is resumable: finished
trainings (checkpoints), tracked sequences and scored seeds are reused.

Tables: table1 (Table 1: Student, +SCFD, +SCFD+MPSD, +SCFD+MPSD+HFRD, and the teacher), table2
(Table 2: SCFD targets AFD / SED / CED / SCFD), table3 (Table 3: fusion SAF / CAF / TF / MPSD
under SCFD), table4 (Table 4: KD, FitNets and ReviewKD with two ResNet18 streams, ReviewKD and MD
(reconstructed from its abstract, see ltr/train_settings/cmd/student_md.py) with one, and ours).
"""
import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ltr.admin.atomic import atomic_write_text

TABLES: Dict[str, List[Tuple[str, str, str]]] = {   # (row name, training setting, tracker)
    'table1': [('Teacher', 'teacher', 'cmd_teacher'), ('Student', 'student', 'cmd_student'),
               ('+SCFD', 'student_scfd', 'cmd_student'), ('+SCFD+MPSD', 'student_scfd_mpsd', 'cmd_student'),
               ('+SCFD+MPSD+HFRD', 'student_distill', 'cmd_student')],
    'table2': [('Student', 'student', 'cmd_student'), ('AFD', 'student_afd', 'cmd_student'),
               ('SED', 'student_sed', 'cmd_student'), ('CED', 'student_ced', 'cmd_student'),
               ('SCFD', 'student_scfd', 'cmd_student')],
    'table3': [('Student+SCFD', 'student_scfd', 'cmd_student'), ('SAF', 'student_scfd_saf', 'cmd_student'),
               ('CAF', 'student_scfd_caf', 'cmd_student'), ('TF', 'student_scfd_tf', 'cmd_student'),
               ('MPSD', 'student_scfd_mpsd', 'cmd_student')],
    'table4': [('KD (2 Res18)', 'student2_kd', 'cmd_student'), ('FitNets (2 Res18)', 'student2_fitnets', 'cmd_student'),
               ('ReviewKD (2 Res18)', 'student2_reviewkd', 'cmd_student'),
               ('ReviewKD (1 Res18)', 'student_reviewkd', 'cmd_student'), ('MD (1 Res18)', 'student_md', 'cmd_student'),
               ('Ours', 'student_distill', 'cmd_student')],
}
# The paper's PR/SR on RGBT234 for each row, printed beside the miniature's.
PAPER = {'teacher': '84.4/60.1', 'student': '78.1/56.0', 'student_scfd': '80.3/57.4',
         'student_scfd_mpsd': '82.2/58.3', 'student_distill': '82.4/58.4', 'student_afd': '78.7/56.6',
         'student_sed': '79.2/56.5', 'student_ced': '79.6/56.6', 'student_scfd_saf': '81.9/58.0',
         'student_scfd_caf': '81.1/57.6', 'student_scfd_tf': '82.6/58.6', 'student2_kd': '78.4/56.2',
         'student2_fitnets': '79.3/56.0', 'student2_reviewkd': '79.9/56.5', 'student_reviewkd': '80.5/56.3',
         'student_md': '80.0/55.4'}
# Seconds per training iteration on 2 CPU cores at the smoke crops (batch 2), measured; only used
# to turn --minutes into iteration counts.
CPU_SECONDS_PER_ITERATION = {'teacher': 2.4, 'student': 0.8, 'distilled': 3.0}
EPOCHS = 4
METRICS = ('PR', 'NPR', 'SR')


def needs_teacher(setting: str) -> bool:
    return setting not in ('teacher', 'student')


def checkpoint_dir(workspace: Path, setting: str) -> Path:
    from ltr.admin.environment import checkpoint_dir as settings_checkpoint_dir
    return settings_checkpoint_dir(workspace, 'cmd', setting)


def miniature_config(iterations: int, seed: int, epochs: int = EPOCHS, **overrides):
    """The training configuration of every miniature run: the smoke profile (synthetic data, 128x128
    crops, batch 2) from random initialisation, `iterations` in all over `epochs`, the newest
    checkpoint kept; `overrides` are further TrainConfig fields."""
    from ltr.train_settings.cmd.config import PROFILES
    return PROFILES['smoke'].replace(epochs=epochs, iterations=max(1, math.ceil(iterations / epochs)),
                                     backbone_pretrained=False, tensorboard=False, num_workers=0,
                                     keep_checkpoints=1, seed=seed, **overrides)


def train_setting(workspace: Path, setting: str, iterations: int, device: str, seed: int, synthetic: Path,
                  epochs: int = EPOCHS, overrides: Optional[Dict] = None) -> None:
    """Trains `setting` with the miniature configuration on the synthetic benchmark `synthetic`, its
    checkpoints in `workspace`; resumes, or does nothing when its last epoch is there."""
    from ltr import run_training
    paths = {'workspace_dir': workspace, 'tensorboard_dir': Path(workspace) / 'tensorboard', 'synthetic_dir': synthetic}
    run_training.train('cmd', setting, miniature_config(iterations, seed, epochs, **(overrides or {})), device,
                       paths=paths)


def track_setting(workspace: Path, setting: str, tracker_name: str, results: Path, synthetic: Path,
                  simulate_missing=None, device: str = 'cpu'):
    """Tracks the test split of the synthetic benchmark `synthetic` with the setting's latest
    checkpoint (optionally with one modality blanked in seeded segments, see
    pytracking.utils.missing_modality); returns the results folder."""
    from pytracking.evaluation.datasets import get_dataset
    from pytracking.evaluation.running import run_dataset
    from pytracking.evaluation.tracker import Tracker
    tracker = Tracker(tracker_name, 'synthetic', net_path=str(checkpoint_dir(workspace, setting)), results_dir=results,
                      simulate_missing=simulate_missing, param_overrides={'use_gpu': device.startswith('cuda')})
    statuses = run_dataset(get_dataset('synthetic', root=synthetic, require_frames=True), [tracker])
    failed = [s for s in statuses if s['status'] == 'failed']
    if failed:
        raise RuntimeError(f"{setting} failed on {failed[0]['sequence']}: {failed[0]['error']}")
    return tracker.results_dir


def score(folders: Dict[str, Path], synthetic: Path) -> Dict[str, Dict[str, float]]:
    from pytracking.analysis import evaluate_folders
    evaluation = evaluate_folders('synthetic', folders, dataset_root=synthetic)
    return {name: {m: float(evaluation.trackers[name]['scores'][m]) for m in METRICS} for name in folders}


def iteration_budget(minutes: float, rows: Sequence[Tuple[str, str, str]], seeds: int, speedup: float):
    """(student iterations, teacher iterations) that fit `minutes` of training for all seeds, with the
    teacher given 2x the student rows' iterations."""
    seconds = 60 * minutes * speedup / seeds
    student_cost = sum(CPU_SECONDS_PER_ITERATION['distilled' if needs_teacher(s) else 'student']
                       for _, s, _ in rows if s != 'teacher')
    teacher_cost = 2 * CPU_SECONDS_PER_ITERATION['teacher']
    iterations = max(4, int(seconds / (student_cost + teacher_cost)))
    return iterations, 2 * iterations


def overrides_from(parser, pairs: Sequence[str]) -> Dict:
    """TrainConfig fields from --set KEY=VALUE pairs, checked against the miniature configuration
    (a bad key or value is the parser's error)."""
    from ltr.train_settings.cmd.config import parse_assignments
    try:
        overrides = parse_assignments(pairs)
        miniature_config(1, 0, **overrides)
    except (KeyError, ValueError) as err:
        parser.error(str(err.args[0] if err.args else err))
    return overrides


def run_seed(out: Path, table: str, seed: int, iterations: int, teacher_iterations: int, device: str,
             synthetic: Path, distill_overrides: Optional[Dict] = None) -> Dict:
    """Trains, tracks and scores every row of `table` for one seed (reusing what is finished);
    `distill_overrides` (TrainConfig fields) apply to the rows trained with a teacher."""
    done_file = out / f'seed{seed}' / f'{table}_scores.json'
    rows = TABLES[table]
    if done_file.is_file():
        scores = json.loads(done_file.read_text())
        if all(name in scores for name, _, _ in rows):
            return scores
        # The table has gained rows since: train and track those, reuse the rest.
    workspace = out / f'seed{seed}'
    settings = [s for _, s, _ in rows]
    if 'teacher' in settings or any(needs_teacher(s) for s in settings):
        train_setting(workspace, 'teacher', teacher_iterations, device, seed, synthetic)
    folders = {}
    for name, setting, tracker_name in rows:
        if setting != 'teacher':
            train_setting(workspace, setting, iterations, device, seed, synthetic,
                          overrides=distill_overrides if needs_teacher(setting) else None)
        folders[name] = track_setting(workspace, setting, tracker_name, workspace / 'results' / setting, synthetic,
                                      device=device)
    scores = score(folders, synthetic)
    atomic_write_text(done_file, json.dumps(scores, indent=1))
    return scores


def summarise(table: str, per_seed: Dict[int, Dict], iterations: int, teacher_iterations: int,
              minutes: float, test_frames: int) -> str:
    lines = [f"| Row | setting | {' | '.join(METRICS)} | paper PR/SR (RGBT234) |", '|---|---|' + '---|' * len(METRICS) + '---|']
    for name, setting, _ in TABLES[table]:
        cells = []
        for metric in METRICS:
            values = np.array([per_seed[seed][name][metric] for seed in sorted(per_seed)])
            cells.append(f"{values.mean():.1f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.1f}")
        lines.append(f"| {name} | `{setting}` | {' | '.join(cells)} | {PAPER.get(setting, '-')} |")
    header = (f"{table}: mean ± standard deviation over seeds {sorted(per_seed)} on the synthetic test split "
              f"({test_frames} frames); student rows {iterations} training iterations each, teacher "
              f"{teacher_iterations}; batch 2 at 128x128 crops, random initialisation; {minutes:.1f} min in all.")
    return header + '\n\n' + '\n'.join(lines) + '\n'


def bar_plot(table: str, per_seed: Dict[int, Dict], path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = [name for name, _, _ in TABLES[table]]
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.6))
    width = 0.8 / len(METRICS)
    for index, metric in enumerate(METRICS):
        values = np.array([[per_seed[s][n][metric] for s in sorted(per_seed)] for n in names])
        ax.bar(np.arange(len(names)) + index * width, values.mean(axis=1), width,
               yerr=values.std(axis=1, ddof=1) if values.shape[1] > 1 else None, capsize=3, label=metric)
    ax.set_xticks(np.arange(len(names)) + width * (len(METRICS) - 1) / 2)
    ax.set_xticklabels(names)
    ax.set_ylabel('score (%)')
    ax.set_title(f"{table} in miniature ({len(per_seed)} seeds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def prepare_benchmark(out: Path, train: int, test: int, frames: int) -> Path:
    from rgbt.synthetic import SequenceSpec, generate_benchmark
    root = out / 'data' / 'synthetic'
    generate_benchmark(root, 'rgbt234', {'train': train, 'test': test}, SequenceSpec(num_frames=frames), seed=0)
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rgbt.experiments', description=__doc__.splitlines()[0])
    parser.add_argument('table', choices=sorted(TABLES))
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--iterations', type=int, default=None, help='training iterations of every student row')
    parser.add_argument('--teacher-iterations', type=int, default=None)
    parser.add_argument('--minutes', type=float, default=None,
                        help='size the iterations to this training budget (estimate from measured speeds)')
    parser.add_argument('--test-sequences', type=int, default=12)
    parser.add_argument('--test-frames', type=int, default=100)
    parser.add_argument('--out', default=None, help='experiment folder (default: <workspace>/experiments)')
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help="a training setting (TrainConfig field) of the distilled rows, e.g. "
                             "--set scfd_target_norm=channel_std (use a fresh --out: finished rows are reused)")
    args = parser.parse_args(argv)
    distill_overrides = overrides_from(parser, args.set)
    import torch
    device = 'cuda' if args.device == 'cuda' or (args.device == 'auto' and torch.cuda.is_available()) else 'cpu'
    from ltr.admin.environment import DEFAULT_WORKSPACE
    out = Path(args.out or Path(os.environ.get('RGBT_WORKSPACE') or DEFAULT_WORKSPACE) / 'experiments').resolve()
    iterations, teacher_iterations = args.iterations or 100, args.teacher_iterations
    if args.minutes is not None and args.iterations is None:
        iterations, teacher_iterations = iteration_budget(args.minutes, TABLES[args.table], args.seeds,
                                                          10.0 if device == 'cuda' else 1.0)
    teacher_iterations = teacher_iterations or 2 * iterations
    started = time.time()
    synthetic = prepare_benchmark(out, train=12, test=args.test_sequences, frames=args.test_frames)
    per_seed = {}
    for seed in range(args.seeds):
        print(f"\n== {args.table}, seed {seed}: students {iterations} iterations, teacher {teacher_iterations}",
              flush=True)
        per_seed[seed] = run_seed(out, args.table, seed, iterations, teacher_iterations, device, synthetic,
                                  distill_overrides)
    text = summarise(args.table, per_seed, iterations, teacher_iterations, (time.time() - started) / 60,
                     args.test_sequences * args.test_frames)
    atomic_write_text(out / f'{args.table}.md', text)
    bar_plot(args.table, per_seed, out / f'{args.table}.png')
    print(text)
    print(f"table: {out / (args.table + '.md')}, plot: {out / (args.table + '.png')}")


if __name__ == '__main__':
    main()
