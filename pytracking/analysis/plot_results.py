"""Tables and plots of a BenchmarkEvaluation, in the style of the benchmark papers' figures:
precision, normalised precision and success curves with the score in the legend, best first."""
import csv
import json
import os
from pathlib import Path
from typing import Dict, List

import numpy as np

from ltr.admin.atomic import atomic_savefig, atomic_write, atomic_write_text

from pytracking.analysis.evaluation import BenchmarkEvaluation

CURVES = {
    # plot type: (curve key, score key, thresholds attribute, x label, title, legend format)
    'prec': ('precision', 'PR', 'precision_thresholds', 'Location error threshold (pixels)', 'Precision plot', '{:.1f}'),
    'norm_prec': ('norm_precision', 'NPR', 'norm_precision_thresholds', 'Normalised location error threshold',
                  'Normalised precision plot', '{:.1f}'),
    'success': ('success', 'SR', 'success_thresholds', 'Overlap threshold', 'Success plot', '{:.1f}'),
}
FILE_NAMES = {'prec': 'precision_plot', 'norm_prec': 'norm_precision_plot', 'success': 'success_plot'}
METRIC_LABELS = {'rgbt234': {'PR': 'MPR', 'SR': 'MSR'}, 'gtot': {'PR': 'MPR', 'SR': 'MSR'}}


def metric_label(dataset: str, metric: str) -> str:
    return METRIC_LABELS.get(dataset, {}).get(metric, metric)


def results_table(evaluation: BenchmarkEvaluation) -> List[Dict[str, object]]:
    """One row per tracker, best SR first: tracker, the protocol's metrics (percent), frames, sequences."""
    rows = []
    for name, summary in evaluation.trackers.items():
        row = {'tracker': name}
        row.update({m: float(summary['scores'][m]) for m in evaluation.protocol.metric_names})
        row.update(frames=summary['frames'], sequences=summary['sequences'])
        rows.append(row)
    return sorted(rows, key=lambda r: -r['SR'])


def format_table(evaluation: BenchmarkEvaluation) -> str:
    metrics = evaluation.protocol.metric_names
    header = ['Tracker'] + [metric_label(evaluation.dataset, m) for m in metrics] + ['Frames', 'Sequences']
    lines = [[str(r['tracker'])] + [f"{r[m]:.1f}" for m in metrics] + [str(r['frames']), str(r['sequences'])]
             for r in results_table(evaluation)]
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    render = lambda row: '  '.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return '\n'.join([f"{evaluation.dataset}: {len(evaluation.sequence_names)} sequences", render(header),
                      render(['-' * w for w in widths])] + [render(line) for line in lines] + missing_notes(evaluation))


def missing_notes(evaluation: BenchmarkEvaluation) -> List[str]:
    """One line per tracker that ran frames without a modality (from its `<seq>_missing.txt` files)."""
    return [f"note: {name} tracked {summary['frames_without_a_modality']} of {summary['frames']} frames with a "
            f"modality missing (<seq>_missing.txt): a drop-out run, not a clean one"
            for name, summary in evaluation.trackers.items() if summary.get('frames_without_a_modality')]


def print_results(evaluation: BenchmarkEvaluation) -> None:
    print(format_table(evaluation))


def write_json(evaluation: BenchmarkEvaluation, path: os.PathLike) -> None:
    """{"dataset": D, "trackers": {NAME: {"PR": x, "SR": y[, "NPR": z][, "frames_without_a_modality": n]}}},
    percent, unrounded; the count only for trackers that ran frames with a modality missing."""
    data = {'dataset': evaluation.dataset,
            'trackers': {name: {**{m: float(s['scores'][m]) for m in evaluation.protocol.metric_names},
                                **({'frames_without_a_modality': s['frames_without_a_modality']}
                                   if s.get('frames_without_a_modality') else {})}
                         for name, s in evaluation.trackers.items()}}
    atomic_write_text(path, json.dumps(data, indent=2))


def write_csv(evaluation: BenchmarkEvaluation, path: os.PathLike) -> None:
    rows = results_table(evaluation)
    with atomic_write(path, newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _plot_one(evaluation: BenchmarkEvaluation, summaries: Dict[str, dict], plot_type: str, title: str,
              out_base: Path) -> None:
    import matplotlib  # deferred: only plots need matplotlib, its backend chosen before pyplot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after the backend is chosen

    curve_key, score_key, thresholds_name, xlabel, default_title, fmt = CURVES[plot_type]
    thresholds = getattr(evaluation.protocol, thresholds_name)
    order = sorted(summaries, key=lambda n: -summaries[n]['scores'][score_key])
    many = len(order) > 8            # a long legend goes beside the axes instead of over the curves
    fig, ax = plt.subplots(figsize=(8.6 if many else 6.4, 4.8), dpi=120)
    styles = ['-', '--', '-.', ':']
    colors = plt.get_cmap('tab10').colors              # then a new line style for trackers 11-20, ...
    for index, name in enumerate(order):
        summary = summaries[name]
        label = f"{name} [{fmt.format(summary['scores'][score_key])}]"
        ax.plot(thresholds, summary[curve_key], linestyle=styles[(index // len(colors)) % len(styles)],
                color=colors[index % len(colors)], linewidth=2, label=label)
    if plot_type != 'success':
        index = evaluation.protocol.norm_precision_index if plot_type == 'norm_prec' else evaluation.protocol.precision_index
        ax.axvline(thresholds[index], color='0.6', linewidth=0.8, linestyle=':')
    ax.set_xlim(thresholds[0], thresholds[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel, fontsize=12)
    ax.set_ylabel('Success rate' if plot_type == 'success' else 'Precision', fontsize=12)
    metric = metric_label(evaluation.dataset, score_key)
    ax.set_title(f"{default_title} on {title} ({metric})", fontsize=12)
    ax.grid(True, alpha=0.3)
    # Success curves fall from the top left, precision curves rise to the top right: keep the legend
    # in the corner the curves leave free.
    if many:
        ax.legend(loc='upper left', bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False)
    else:
        ax.legend(loc='upper right' if plot_type == 'success' else 'lower right', fontsize=9, framealpha=0.9)
    fig.tight_layout()
    out_base.parent.mkdir(parents=True, exist_ok=True)
    for extension in ('pdf', 'png'):
        atomic_savefig(fig, f"{out_base}.{extension}")
    plt.close(fig)


RADAR_METRICS = {'prec': 'PR', 'norm_prec': 'NPR', 'success': 'SR'}


def radar_values(evaluation: BenchmarkEvaluation, metric: str):
    """(attributes, {tracker: [score per attribute, percent]}) of the attributes that have sequences,
    in the benchmark's attribute order; trackers best first by their overall score."""
    attributes = [a for a in evaluation.per_attribute if evaluation.per_attribute[a]]
    trackers = sorted(evaluation.trackers, key=lambda n: -evaluation.trackers[n]['scores'][metric])
    return attributes, {name: [float(evaluation.per_attribute[a][name]['scores'][metric]) for a in attributes]
                        for name in trackers}


def plot_radar(evaluation: BenchmarkEvaluation, metric: str, out_base: Path) -> bool:
    """One polygon per tracker over the attribute axes (the community toolkits' attribute radar
    chart); each axis is labelled with its attribute and sequence count. False (nothing written)
    with fewer than three attributes, where a radar chart has no area."""
    import matplotlib  # deferred: only plots need matplotlib, its backend chosen before pyplot
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # after the backend is chosen

    attributes, values = radar_values(evaluation, metric)
    if len(attributes) < 3:
        return False
    angles = np.linspace(0, 2 * np.pi, len(attributes), endpoint=False)
    closed = np.append(angles, angles[0])
    fig, ax = plt.subplots(figsize=(7.2, 6.4), dpi=120, subplot_kw={'projection': 'polar'})
    colors = plt.get_cmap('tab10').colors
    top = max(max(v) for v in values.values())
    for index, (name, scores) in enumerate(values.items()):
        overall = evaluation.trackers[name]['scores'][metric]
        ax.plot(closed, scores + scores[:1], color=colors[index % len(colors)], linewidth=2,
                linestyle='-' if index < len(colors) else '--', label=f"{name} [{overall:.1f}]")
    counts = [next(iter(evaluation.per_attribute[a].values()))['sequences'] for a in attributes]
    ax.set_xticks(angles)
    ax.set_xticklabels([f"{a}\n({n})" for a, n in zip(attributes, counts)], fontsize=10)
    ax.set_ylim(0, max(10.0, np.ceil(top / 10) * 10))
    ax.set_rlabel_position(float(np.degrees(angles[1] / 2)))        # radial scale between the first two axes
    ax.tick_params(axis='x', pad=10)
    ax.set_title(f"{metric_label(evaluation.dataset, metric)} per attribute on {evaluation.dataset}", fontsize=12)
    ax.legend(loc='upper left', bbox_to_anchor=(1.12, 1.0), fontsize=9, frameon=False)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    for extension in ('pdf', 'png'):
        atomic_savefig(fig, f"{out_base}.{extension}", bbox_inches='tight')       # keeps the outer labels and legend
    plt.close(fig)
    return True


def plot_results(evaluation: BenchmarkEvaluation, out_dir: os.PathLike, plot_types=('success', 'prec', 'norm_prec'),
                 per_attribute: bool = True) -> List[Path]:
    """Writes <out_dir>/{success,precision,norm_precision}_plot.{pdf,png} and, per attribute,
    <out_dir>/attributes/<ATTR>_<type>.{pdf,png} and a radar chart of each metric over the
    attributes, <out_dir>/attributes/radar_{PR,NPR,SR}.{pdf,png}. Returns the PNG paths."""
    if isinstance(plot_types, str):
        plot_types = (plot_types,)
    out_dir = Path(out_dir)
    plot_types = [t for t in plot_types if t != 'norm_prec' or 'NPR' in evaluation.protocol.metric_names]
    written = []
    for plot_type in plot_types:
        base = out_dir / FILE_NAMES[plot_type]
        _plot_one(evaluation, evaluation.trackers, plot_type, f"{evaluation.dataset}", base)
        written.append(base.with_suffix('.png'))
        if per_attribute:
            for attribute, summaries in evaluation.per_attribute.items():
                base = out_dir / 'attributes' / f"{attribute}_{FILE_NAMES[plot_type]}"
                count = next(iter(summaries.values()))['sequences']
                _plot_one(evaluation, summaries, plot_type, f"{evaluation.dataset} {attribute} ({count} seq.)", base)
                written.append(base.with_suffix('.png'))
            base = out_dir / 'attributes' / f"radar_{RADAR_METRICS[plot_type]}"
            if plot_radar(evaluation, RADAR_METRICS[plot_type], base):
                written.append(base.with_suffix('.png'))
    return written
