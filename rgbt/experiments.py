"""The paper's ablation tables in miniature, on the synthetic RGB-T benchmark, over several seeds.

    python -m rgbt.experiments table1 [--seeds 3] [--iterations 100] [--teacher-iterations 300]
                                      [--minutes M] [--out DIR] [--device auto|cpu|cuda]

Each row is a training setting (ltr/train_settings/cmd); for every seed the teacher and then each
row are trained with the real training code (smoke crops), the test split is tracked with the real
tracker and scored with the real evaluation. Every student row trains with the same number of
iterations and samples (distillation costs wall time, not iterations); the teacher has its own
count. The table (mean and standard deviation over seeds of PR, NPR, SR) goes to
`<out>/<table>.md` with a bar plot `<out>/<table>.png`. Everything is resumable: finished
trainings (checkpoints), tracked sequences and scored seeds are reused.

Tables: table1 (Table 1: Student, +SCFD, +SCFD+MPSD, +SCFD+MPSD+HFRD, and the teacher; with two rows
that are not the paper's: the untrained student, the floor, and the MPSD student without
distillation, the control of the full CMD student), table2
(Table 2: SCFD targets AFD / SED / CED / SCFD), table3 (Table 3: fusion SAF / CAF / TF / MPSD
under SCFD), table4 (Table 4: KD, FitNets and ReviewKD with two ResNet18 streams, ReviewKD and MD
(reconstructed from its abstract, see ltr/train_settings/cmd/student_md.py) with one, and ours).
"""
import argparse
import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ltr.admin.atomic import atomic_savefig, atomic_write_text
from ltr.train_settings.cmd.tables import paper_rgbt234, paper_rows
from rgbt.miniature import (CRITERIA, METRICS, ROWS, TEACHER_ITERATION_RATIO, UNTRAINED, VERDICT_ROWS, default_out, iteration_budget,
                            machine, needs_teacher, parse_overrides, prepare_benchmark, resolve_device, score,
                            track_setting, train_setting, train_shared_teacher, verdict)

def _miniature_rows(table: str) -> List[Tuple[str, str, str]]:
    """(row name, training setting, tracker) of a table: the paper's rows (tables.py) and ours: the
    untrained floor first in Table 1, and the distillation control after its Student row."""
    rows = []
    for row in paper_rows(table):
        rows.append((row.name, row.setting, 'cmd_teacher' if row.setting == 'teacher' else 'cmd_student'))
        if table == 'table1' and row.setting == 'student':
            rows.append(('MPSD student, no distillation', 'student_mpsd_nodistill', 'cmd_student'))
    return ([('Untrained student', UNTRAINED, 'cmd_student')] if table == 'table1' else []) + rows


TABLES: Dict[str, List[Tuple[str, str, str]]] = {table: _miniature_rows(table)
                                                 for table in ('table1', 'table2', 'table3', 'table4')}
# The rows of the verdict on distillation (docs/distillation.md, "The verdict"): floor, baseline,
# control, CMD student, teacher.
TABLES['verdict'] = [(name, ROWS[name].setting, ROWS[name].tracker) for name in VERDICT_ROWS]
# The paper's PR/SR on RGBT234 for each row, printed beside the miniature's.
PAPER = paper_rgbt234()


def run_seed(out: Path, table: str, seed: int, iterations: int, teacher_iterations: int, device: str,
             synthetic: Path, distill_overrides: Optional[Dict] = None, threads: Optional[int] = None,
             shared_teacher: Optional[Tuple[Path, Path]] = None) -> Dict:
    """Trains, tracks and scores every row of `table` for one seed (reusing what is finished);
    `distill_overrides` (TrainConfig fields) apply to the rows trained with a teacher; `threads`
    pins torch's thread count of every training and tracking run (None: the thread policy's default).
    `shared_teacher` (its checkpoint file, its results folder): a teacher trained once
    (miniature.train_shared_teacher) that every seed distils from and tracks, instead of one teacher
    trained per seed."""
    done_file = out / f'seed{seed}' / f'{table}_scores.json'
    rows = TABLES[table]
    if done_file.is_file():
        scores = json.loads(done_file.read_text())
        if all(name in scores for name, _, _ in rows):
            return scores
        # The table has gained rows since: train and track those, reuse the rest.
    workspace = out / f'seed{seed}'
    settings = [s for _, s, _ in rows]
    pinned = {'threads': threads} if threads else {}
    teacher_overrides = {'teacher': str(shared_teacher[0])} if shared_teacher else {}
    if not shared_teacher and ('teacher' in settings or any(needs_teacher(s) for s in settings)):
        train_setting(workspace, 'teacher', teacher_iterations, device, seed, synthetic, overrides=pinned)
    folders = {}
    for name, setting, tracker_name in rows:
        if setting == 'teacher' and shared_teacher:
            folders[name] = track_setting(workspace, setting, tracker_name, shared_teacher[1], synthetic,
                                          device=device, threads=threads, net_path=shared_teacher[0])
            continue
        if setting != 'teacher':
            distilled = {**(distill_overrides or {}), **teacher_overrides} if needs_teacher(setting) else {}
            train_setting(workspace, setting, iterations, device, seed, synthetic, overrides={**distilled, **pinned})
        folders[name] = track_setting(workspace, setting, tracker_name, workspace / 'results' / setting, synthetic,
                                      device=device, threads=threads)
    scores = score(folders, synthetic)
    atomic_write_text(done_file, json.dumps(scores, indent=1))
    return scores


def summarise(table: str, per_seed: Dict[int, Dict], iterations: int, teacher_iterations: int,
              minutes: float, test_frames: int, threads: Optional[int] = None,
              teacher_seed: Optional[int] = None) -> str:
    shared = '' if teacher_seed is None else f" (one teacher, seed {teacher_seed}, shared by every seed)"
    lines = [f"| Row | setting | {' | '.join(METRICS)} | paper PR/SR (RGBT234) |", '|---|---|' + '---|' * len(METRICS) + '---|']
    for name, setting, _ in TABLES[table]:
        cells = []
        for metric in METRICS:
            values = np.array([per_seed[seed][name][metric] for seed in sorted(per_seed)])
            cells.append(f"{values.mean():.1f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.1f}")
        lines.append(f"| {name} | `{setting}` | {' | '.join(cells)} | {PAPER.get(setting, '-')} |")
    header = (f"{table}: mean ± standard deviation over seeds {sorted(per_seed)} on the synthetic test split "
              f"({test_frames} frames); student rows {iterations} training iterations each, teacher "
              f"{teacher_iterations}{shared}; batch 2 at 128x128 crops, random initialisation; {minutes:.1f} min in all; "
              f"{machine(threads)}.")
    return header + '\n\n' + '\n'.join(lines) + '\n'


def per_seed_table(table: str, per_seed: Dict[int, Dict]) -> str:
    """Every seed's PR / NPR / SR per row, one line per seed (the table docs/distillation.md shows)."""
    names = [name for name, _, _ in TABLES[table]]
    lines = ['| seed | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
    for seed in sorted(per_seed):
        cells = [' / '.join(f"{per_seed[seed][name][metric]:.1f}" for metric in METRICS) for name in names]
        lines.append(f"| {seed} | " + ' | '.join(cells) + ' |')
    return f"Per seed ({' / '.join(METRICS)}):\n\n" + '\n'.join(lines) + '\n'


def bar_plot(table: str, per_seed: Dict[int, Dict], path: Path) -> None:
    import matplotlib  # deferred: only plots need matplotlib, its backend chosen before pyplot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after the backend is chosen
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
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
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
    parser.add_argument('--seed-list', default=None, help='comma-separated seeds (instead of 0..--seeds-1), e.g. 10,11,12')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads of every training and tracking run (default: the thread policy, '
                             'ltr/admin/threads.py); the scores depend on it')
    parser.add_argument('--teacher-seed', type=int, default=None,
                        help='train one teacher with this seed (--teacher-iterations, a multiple of 150) and let '
                             'every seed distil from and track it, instead of a teacher per seed')
    parser.add_argument('--teacher-threads', type=int, default=None,
                        help="torch threads of the shared teacher's training (default: --threads)")
    parser.add_argument('--criterion', default='first', choices=sorted(CRITERIA),
                        help="the verdict's written criterion (docs/distillation.md): 'first' for seeds 10-14, "
                             "'second' for the second miniature's seeds 20-24")
    parser.add_argument('--record', default=None,
                        help='folder of scored seeds kept between sessions (seed<N>.json, e.g. under docs/): a '
                             'seed recorded there is not run again')
    parser.add_argument('--report-only', action='store_true',
                        help='summarise the seeds recorded in --record and run nothing (a partial reading when '
                             'some are missing)')
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.report_only and not args.record:
        parser.error('--report-only reads the seeds of --record')
    distill_overrides = parse_overrides(parser, args.set)
    device = resolve_device(args.device)
    out = default_out('experiments', args.out)
    iterations, teacher_iterations = budget(args, device)
    started = time.time()
    seeds = [int(s) for s in args.seed_list.split(',')] if args.seed_list else list(range(args.seeds))
    if args.report_only:
        seeds = [seed for seed in seeds if (Path(args.record) / f'seed{seed}.json').is_file()]
        if not seeds:
            raise SystemExit(f"no seed of --seed-list is recorded in {args.record}")
    else:
        synthetic = prepare_benchmark(out, train=12, test=args.test_sequences, frames=args.test_frames)
    shared_teacher = None
    if args.teacher_seed is not None and not args.report_only:
        shared_teacher = train_shared_teacher(out, args.teacher_seed, teacher_iterations, device, synthetic,
                                              args.teacher_threads or args.threads)
    recipe = {'table': args.table, 'iterations': iterations, 'teacher_iterations': teacher_iterations,
              'teacher_seed': args.teacher_seed, 'criterion': args.criterion,
              'teacher_threads': args.teacher_threads or args.threads, 'distill_overrides': distill_overrides,
              'threads': args.threads, 'machine': machine(args.threads),
              'test_frames': args.test_sequences * args.test_frames}
    per_seed, recorded_minutes = {}, 0.0
    for seed in seeds:
        recorded = Path(args.record) / f'seed{seed}.json' if args.record else None
        if recorded is not None and recorded.is_file():
            record = json.loads(recorded.read_text())
            per_seed[seed] = record['scores']
            recorded_minutes += float(record.get('minutes') or 0.0)
            continue
        print(f"\n== {args.table}, seed {seed}: students {iterations} iterations, teacher {teacher_iterations}",
              flush=True)
        seed_started = time.time()
        per_seed[seed] = run_seed(out, args.table, seed, iterations, teacher_iterations, device, synthetic,
                                  distill_overrides, args.threads, shared_teacher)
        if recorded is not None:
            atomic_write_text(recorded, json.dumps({'seed': seed, 'scores': per_seed[seed], 'recipe': recipe,
                                                    'minutes': round((time.time() - seed_started) / 60, 1)}, indent=1))
    minutes = recorded_minutes if args.report_only else (time.time() - started) / 60
    report(args, out, per_seed, iterations, teacher_iterations, minutes)


def budget(args, device: str) -> Tuple[int, int]:
    """(iterations of each student row, teacher iterations) from the arguments."""
    iterations, teacher_iterations = args.iterations or 100, args.teacher_iterations
    if args.minutes is not None and args.iterations is None:
        seconds = 60 * args.minutes * (10.0 if device == 'cuda' else 1.0) / args.seeds
        iterations, teacher_iterations = iteration_budget(seconds, [s for _, s, _ in TABLES[args.table]])
    return iterations, teacher_iterations or TEACHER_ITERATION_RATIO * iterations


def report(args, out: Path, per_seed: Dict[int, Dict], iterations: int, teacher_iterations: int,
           minutes: float) -> None:
    """Writes and prints the table (with the per-seed table and the verdict for 'verdict') and its plot."""
    text = summarise(args.table, per_seed, iterations, teacher_iterations, minutes,
                     args.test_sequences * args.test_frames, args.threads, args.teacher_seed)
    if args.table == 'verdict':
        text += '\n' + per_seed_table(args.table, per_seed) + '\n' + verdict(per_seed, CRITERIA[args.criterion]) + '\n'
    atomic_write_text(out / f'{args.table}.md', text)
    bar_plot(args.table, per_seed, out / f'{args.table}.png')
    print(text)
    print(f"table: {out / (args.table + '.md')}, plot: {out / (args.table + '.png')}")


if __name__ == '__main__':
    main()
