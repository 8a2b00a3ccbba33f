"""IoU-Net box refinement timed side by side: DiMP's ascent with autograd (what the tracker ran
before), the closed-form ascent in PyTorch (refinement.ascend_iou, what the PyTorch backend runs now),
and the exported refine.onnx in ONNX Runtime (what the ONNX Runtime backend runs); and how far their
boxes are apart.

    python pytracking/util_scripts/benchmark_refinement.py [--net cmd_student] [--sample-size 288]
        [--boxes 10] [--iterations 5] [--repeats 50] [--threads N] [--json FILE] [--in-tracker ROUNDS]

`--in-tracker ROUNDS` also times the PyTorch backend's tracked frames (benchmark_speed's parts, 30
frames of 640x480) with each PyTorch ascent, alternating them ROUNDS times in one process, so that
the machine's drift between runs (30% between separate runs on a shared 2-core VM) cancels.

One frame's refinement (modulation, IoU features, K start boxes) of a network with random weights
(BatchNorm folded, as the tracker runs it); median milliseconds over `--repeats` calls after 3
warm-up calls, torch and ONNX Runtime pinned to `--threads`.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import torch  # noqa: E402

from ltr.admin.atomic import atomic_write_text  # noqa: E402
from ltr.admin.loading import save_network  # noqa: E402
from ltr.admin.model_constructor import registered_builders  # noqa: E402
from ltr.admin.threads import cpu_model, use_threads  # noqa: E402
from pytracking.libs import onnx_export as ox  # noqa: E402
from pytracking.libs import onnx_graphs as og  # noqa: E402
from pytracking.tracker.rgbt_dimp.compute import OrtRunner, prepare_network  # noqa: E402
from pytracking.tracker.rgbt_dimp.refinement import ascend_iou, ascend_iou_autograd  # noqa: E402
from rgbt import nets  # noqa: E402, F401 (registers the CMD builders)
from pytracking.evaluation.tracker import Tracker  # noqa: E402
from pytracking.tracker.rgbt_dimp import compute  # noqa: E402
from pytracking.util_scripts import benchmark_speed  # noqa: E402


def median_ms(function, repeats: int) -> float:
    for _ in range(3):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def tracked_parts(net_name: str, rounds: int) -> dict:
    """Median ms per part of the PyTorch backend's tracked frames with each ascent, interleaved."""
    ascents = {'autograd (before)': ascend_iou_autograd, 'closed form, PyTorch': ascend_iou}
    runs = {name: [] for name in ascents}
    original = compute.ascend_iou
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        sequence = benchmark_speed.write_sequence(folder, 31)
        torch.manual_seed(0)
        path = str(folder / 'net.pth.tar')
        save_network(registered_builders()[net_name](backbone_pretrained=False), path)
        tracker = Tracker(benchmark_speed.TRACKER_OF[net_name], 'default', net_path=path)
        params = tracker.get_parameters()
        params.update(image_sample_size=288, use_gpu=False, target_not_found_threshold=float('-inf'))
        try:
            for _ in range(rounds):
                for name, ascent in ascents.items():
                    compute.ascend_iou = ascent                 # what TorchCompute.refine_boxes calls
                    runs[name].append(benchmark_speed.part_milliseconds(tracker, sequence, params))
        finally:
            compute.ascend_iou = original
    return {name: {part: statistics.median(ms for run in parts for ms in run[part]) for part in parts[0]}
            for name, parts in runs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--net', default='cmd_student')
    parser.add_argument('--sample-size', type=int, default=288)
    parser.add_argument('--boxes', type=int, default=10)
    parser.add_argument('--iterations', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=50)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--json', default=None)
    parser.add_argument('--in-tracker', type=int, default=0, metavar='ROUNDS')
    args = parser.parse_args(argv)
    threads = use_threads(args.threads)
    torch.manual_seed(0)
    source = registered_builders()[args.net](backbone_pretrained=False).eval()
    net = prepare_network(source, torch.device('cpu'), fold=True, channels_last=False, compile_backbone=False)
    _, (m3, m4, i3, i4, boxes) = ox.example_inputs(net, args.sample_size)
    boxes = (boxes[0, :1] + torch.randn(args.boxes, 4) * args.sample_size * 0.02)
    modulated = net.bb_regressor.modulate((m3, m4), (i3, i4))
    with tempfile.TemporaryDirectory() as folder:
        ox.export_onnx(source, Path(folder), args.sample_size, refinement=(args.iterations, 1.0, 1.0))
        runner = OrtRunner(Path(folder) / og.REFINE_FILE, threads)
        feeds = dict(zip(og.REFINE_INPUTS, (m3, m4, i3, i4, boxes)))
        with torch.no_grad():
            runs = {'autograd (before)': lambda: ascend_iou_autograd(net.bb_regressor, modulated, boxes, args.iterations, 1.0, 1.0),
                    'closed form, PyTorch': lambda: ascend_iou(net.bb_regressor, modulated, boxes, args.iterations,
                                                               1.0, 1.0),
                    'closed form, ONNX Runtime': lambda: runner.run(feeds, og.REFINE_OUTPUTS)}
            results = {name: median_ms(run, args.repeats) for name, run in runs.items()}
            reference = runs['autograd (before)']()[0]
            apart = {name: float((runs[name]()[0] - reference).abs().max()) for name in list(runs)[1:]}
    report = {'net': args.net, 'sample_size': args.sample_size, 'boxes': args.boxes, 'iterations': args.iterations,
              'threads': threads, 'cpu': cpu_model(), 'torch': torch.__version__, 'date': time.strftime('%Y-%m-%d'),
              'ms': results, 'max_box_difference_px': apart}
    if args.in_tracker:
        report['tracked_ms_per_frame'] = tracked_parts(args.net, args.in_tracker)
    for name, ms in results.items():
        note = f"  (boxes within {apart[name]:.1e} px of autograd's)" if name in apart else ''
        print(f"{name:28s} {ms:8.2f} ms{note}")
    for name, parts in report.get('tracked_ms_per_frame', {}).items():
        print(f"tracked, {name:20s} " + ', '.join(f"{part} {ms:.1f}" for part, ms in parts.items()))
    print(f"{args.net}, {args.boxes} boxes x {args.iterations} steps at {args.sample_size} px; {cpu_model()}, "
          f"{threads} threads, {report['date']}")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1))
    return report


if __name__ == '__main__':
    main()
