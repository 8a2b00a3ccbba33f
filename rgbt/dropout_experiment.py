"""Tracking with a modality missing, in miniature: SR against the missing rate for the CMD student
trained without and with modality drop-out.

    python -m rgbt.dropout_experiment [--out DIR] [--iterations 72] [--teacher-iterations 240]
        [--dropout 0.3] [--rates 0,0.25,0.5] [--modalities tir,rgb] [--seed 0]

The teacher and the CMD student (`student_distill`) are trained as `python -m rgbt.experiments`
trains them (so an existing `table1` folder given as --out is reused); a second CMD student trains
with the same recipe plus `--modality-dropout P` (blank frames). Both track the synthetic test split
with seeded segments of one modality blanked (`--simulate-missing`) at each rate. Writes
`<out>/dropout.md` (a table of PR/NPR/SR per model, modality and rate) and `<out>/dropout.png`
(SR against the missing rate). Resumable like the tables.
"""
import argparse
import json
from pathlib import Path
from typing import Dict, Sequence

from ltr.admin.atomic import atomic_savefig, atomic_write_text
from rgbt.miniature import METRICS, checkpoint_dir, default_out, prepare_benchmark, score, track_setting, train_setting

MODELS = ('CMD student', 'CMD student + drop-out')


def train_models(out: Path, seed: int, iterations: int, teacher_iterations: int, dropout: float,
                 device: str, synthetic: Path) -> Dict[str, Path]:
    """The two students' workspaces: the plain one shares the tables' seed folder and its teacher."""
    plain = out / f'seed{seed}'
    with_dropout = out / f'seed{seed}_dropout{dropout:g}'
    train_setting(plain, 'teacher', teacher_iterations, device, seed, synthetic)
    train_setting(plain, 'student_distill', iterations, device, seed, synthetic)
    train_setting(with_dropout, 'student_distill', iterations, device, seed, synthetic,
                  overrides={'modality_dropout': dropout, 'teacher': str(checkpoint_dir(plain, 'teacher'))})
    return {MODELS[0]: plain, MODELS[1]: with_dropout}


def run(out: Path, workspaces: Dict[str, Path], modalities: Sequence[str], rates: Sequence[float],
        synthetic: Path) -> Dict:
    """{model: {modality: {rate: scores}}}; rate 0 is tracked once and shared by the modalities."""
    scores = {}
    for model, workspace in workspaces.items():
        clean = track_setting(workspace, 'student_distill', 'cmd_student', workspace / 'results' / 'student_distill',
                              synthetic)
        for modality in modalities:
            for rate in rates:
                if rate == 0:
                    folder = clean
                else:
                    folder = track_setting(workspace, 'student_distill', 'cmd_student',
                                           workspace / 'results' / f'student_distill_missing_{modality}{rate:g}',
                                           synthetic, simulate_missing=(modality, rate))
                scores.setdefault(model, {}).setdefault(modality, {})[rate] = score({model: folder}, synthetic)[model]
    return scores


def table(scores: Dict, header: str) -> str:
    lines = [header, '', '| Model | missing | rate | ' + ' | '.join(METRICS) + ' |', '|---|---|---|' + '---|' * len(METRICS)]
    for model, by_modality in scores.items():
        for modality, by_rate in by_modality.items():
            for rate, values in by_rate.items():
                lines.append(f"| {model} | {modality.upper()} | {rate:g} | "
                             + ' | '.join(f"{values[m]:.1f}" for m in METRICS) + ' |')
    return '\n'.join(lines) + '\n'


def plot(scores: Dict, path: Path) -> None:
    import matplotlib  # deferred: only plots need matplotlib, its backend chosen before pyplot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after the backend is chosen
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for index, (model, by_modality) in enumerate(scores.items()):
        for style, (modality, by_rate) in zip(('-', '--'), by_modality.items()):
            rates = sorted(by_rate)
            ax.plot([100 * r for r in rates], [by_rate[r]['SR'] for r in rates], style, marker='o',
                    color=f"C{index}", label=f"{model}, {modality.upper()} missing")
    ax.set_xlabel('frames with the modality missing (%)')
    ax.set_ylabel('SR (%)')
    ax.set_ylim(bottom=0)
    ax.set_title('Tracking with one modality missing (synthetic test split)')
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rgbt.dropout_experiment', description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=None, help='experiment folder (default: <workspace>/experiments)')
    parser.add_argument('--iterations', type=int, default=72, help="each student's training iterations")
    parser.add_argument('--teacher-iterations', type=int, default=240)
    parser.add_argument('--dropout', type=float, default=0.3, help='modality drop-out probability in training')
    parser.add_argument('--rates', default='0,0.25,0.5', help='missing rates to track at')
    parser.add_argument('--modalities', default='tir,rgb')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--test-sequences', type=int, default=10)
    parser.add_argument('--test-frames', type=int, default=100)
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    args = parser.parse_args(argv)
    out = default_out('experiments', args.out)
    rates = [float(r) for r in args.rates.split(',')]
    modalities = args.modalities.split(',')
    synthetic = prepare_benchmark(out, train=12, test=args.test_sequences, frames=args.test_frames)
    workspaces = train_models(out, args.seed, args.iterations, args.teacher_iterations, args.dropout, args.device,
                              synthetic)
    scores = run(out, workspaces, modalities, rates, synthetic)
    atomic_write_text(out / 'dropout_scores.json', json.dumps(scores, indent=1))
    header = (f"CMD student without and with modality drop-out in training (p = {args.dropout:g}, blank frames), "
              f"seed {args.seed}, {args.iterations} training iterations each (teacher {args.teacher_iterations}); "
              f"synthetic test split, {args.test_sequences * args.test_frames} frames, one modality blanked in "
              f"seeded 20-frame segments at each rate (the tracker's default 'fail' policy tracks the blank frames).")
    text = table(scores, header)
    atomic_write_text(out / 'dropout.md', text)
    plot(scores, out / 'dropout.png')
    print(text)
    print(f"table: {out / 'dropout.md'}, plot: {out / 'dropout.png'}")


if __name__ == '__main__':
    main()
