"""Play back a benchmark sequence with its ground truth and any trackers' results, RGB and TIR side
by side, as an mp4 or a GIF.

    python pytracking/util_scripts/playback.py --dataset synthetic --sequence test000 \
        --results Student=/path/results/student --results Teacher=/path/results/teacher --out test000.mp4 \
        [--dataset-root PATH] [--every 1] [--scale 1.0]

Result folders are read as run_analysis.py reads them (any prefix, 4 or 8 values per row). The
ground truth is white (RGB box on both halves where the benchmark has one per modality: each half
shows its own), trackers are coloured with their name in the legend.
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ltr.data.image_loader import imread_rgb  # noqa: E402
from pytracking.analysis.results import load_tracker_results, parse_name_value  # noqa: E402
from pytracking.evaluation.datasets import DATASETS, benchmark_of  # noqa: E402
from pytracking.utils.video_io import VideoSink, draw_box  # noqa: E402

COLOURS = [(255, 80, 80), (80, 160, 255), (80, 255, 80), (255, 200, 0), (255, 0, 255), (0, 255, 255)]


def annotated_image(sequence, results: dict, index: int, modality: int) -> np.ndarray:
    """Frame `index` of one modality (0 RGB, 1 TIR) with that modality's ground truth (white, where
    annotated), each tracker's box in its colour, and the frame number."""
    frames, gt = ((sequence.rgb_frames, sequence.gt_rgb), (sequence.tir_frames, sequence.gt_tir))[modality]
    image = imread_rgb(frames[index]).copy()
    draw_box(image, gt[index], (255, 255, 255))                # skipped where not finite (not annotated)
    for colour, boxes in zip(COLOURS, results.values()):
        draw_box(image, boxes[index], colour)
    cv2.putText(image, f"#{index} {'RGB' if modality == 0 else 'TIR'}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX,
                0.5, (255, 255, 0), 1)
    return image


def render_frames(sequence, results: dict, every: int = 1, scale: float = 1.0):
    """Yields RGB frames (H, 2W, 3) of the sequence with the ground truth and each tracker's box."""
    for index in range(0, len(sequence.rgb_frames), every):
        halves = [annotated_image(sequence, results, index, modality) for modality in (0, 1)]
        if halves[1].shape[:2] != halves[0].shape[:2]:
            halves[1] = cv2.resize(halves[1], (halves[0].shape[1], halves[0].shape[0]))
        frame = np.concatenate(halves, axis=1)
        if scale != 1.0:
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        yield with_legend(frame, list(results))


def with_legend(frame: np.ndarray, names) -> np.ndarray:
    legend = np.full((22, frame.shape[1], 3), 30, np.uint8)
    x = 4
    for label, colour in [('ground truth', (255, 255, 255))] + list(zip(names, COLOURS)):
        cv2.putText(legend, label, (x, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
        x += 9 * len(label) + 20
    return np.concatenate((legend, frame), axis=0)


def write(frames, out: Path, fps: float) -> int:
    """mp4 (OpenCV) or GIF (Pillow) by the file extension; returns the frame count."""
    frames = list(frames) if out.suffix.lower() == '.gif' else frames
    if out.suffix.lower() == '.gif':
        images = [Image.fromarray(f) for f in frames]
        out.parent.mkdir(parents=True, exist_ok=True)
        images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
        return len(images)
    sink, count = VideoSink(out, fps), 0
    for frame in frames:
        sink.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        count += 1
    sink.close()
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', required=True, choices=sorted(DATASETS))
    parser.add_argument('--sequence', required=True, help='sequence name')
    parser.add_argument('--results', action='append', default=[], type=lambda t: parse_name_value(t, '--results'), metavar='NAME=DIR')
    parser.add_argument('--dataset-root', default=None)
    parser.add_argument('--out', required=True, type=Path, help='.mp4 or .gif')
    parser.add_argument('--every', type=int, default=1, help='keep every Nth frame')
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--fps', type=float, default=10.0)
    args = parser.parse_args(argv)
    benchmark = benchmark_of(args.dataset, args.dataset_root)
    if args.sequence not in benchmark.sequence_names():
        parser.error(f"{args.dataset} has no sequence {args.sequence!r}")
    sequence = benchmark.load_sequence(args.sequence, require_frames=True)
    results = {}
    for name, folder in args.results:
        loaded = load_tracker_results(name, folder, {sequence.name: len(sequence)})
        if sequence.name in loaded.problems:
            parser.error(f"{name}: {loaded.problems[sequence.name]}")
        results[name] = loaded.boxes[sequence.name]
    count = write(render_frames(sequence, results, args.every, args.scale), args.out, args.fps)
    print(f"{count} frames of {args.sequence} with {len(results)} trackers -> {args.out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
