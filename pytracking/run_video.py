"""Track your own RGB-T footage: two folders of frames (paired in natural numeric order).

    python pytracking/run_video.py cmd_student --rgb DIR --tir DIR --init x,y,w,h [--out boxes.txt] [--net PATH]
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import numpy as np  # noqa: E402

from ltr.admin.atomic import atomic_savetxt  # noqa: E402
from pytracking.evaluation.data import Sequence  # noqa: E402
from pytracking.evaluation.running import set_num_threads  # noqa: E402
from pytracking.evaluation.tracker import Tracker  # noqa: E402
from rgbt.benchmarks import invalid_box_reason, list_frames  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description='Track a target in a pair of RGB and thermal frame folders.')
    parser.add_argument('tracker_name')
    parser.add_argument('tracker_param', nargs='?', default='default')
    parser.add_argument('--rgb', required=True, type=Path)
    parser.add_argument('--tir', required=True, type=Path)
    parser.add_argument('--init', required=True, help='x,y,w,h of the target in the first frame')
    parser.add_argument('--out', default=None, help='result file (default: <rgb>/../<tracker>_boxes.txt)')
    parser.add_argument('--net', default=None)
    parser.add_argument('--missing-modality', default='fail', choices=('fail', 'hold', 'zeros'),
                        help='a missing, unreadable or blank frame of one modality: stop (default), reuse that '
                             "modality's last good frame, or feed a black one")
    parser.add_argument('--resize-tir', action='store_true',
                        help='resize thermal frames to the RGB size (default: a size mismatch is an error)')
    args = parser.parse_args(argv)
    for folder in (args.rgb, args.tir):
        if not folder.is_dir():
            parser.error(f"{folder} is not a folder")
    rgb, tir = list_frames(args.rgb), list_frames(args.tir)
    if len(rgb) != len(tir) or not rgb:
        parser.error(f"{len(rgb)} RGB frames but {len(tir)} thermal frames")
    try:
        init = np.array([float(v) for v in args.init.split(',')], dtype=np.float64)
    except ValueError:
        init = np.zeros(0)
    reason = invalid_box_reason(init)
    if reason is not None:
        parser.error(f"--init must be x,y,w,h with positive w and h, got {args.init!r}: {reason}")
    gt = np.tile(init, (len(rgb), 1))
    sequence = Sequence(args.rgb.name, list(zip(rgb, tir)), 'video', gt)
    tracker = Tracker(args.tracker_name, args.tracker_param, net_path=args.net)
    params = tracker.get_parameters()
    params.resize_tir = args.resize_tir
    params.missing_modality = args.missing_modality
    threads = set_num_threads()
    output = tracker.run_sequence(sequence, params=params)
    out = Path(args.out) if args.out else args.rgb.parent / f"{args.tracker_name}_boxes.txt"
    atomic_savetxt(out, np.asarray(output['target_bbox']), fmt='%.2f', delimiter=',')
    fps = (len(output['time']) - 1) / max(sum(output['time'][1:]), 1e-9)
    print(f"{len(rgb)} frames tracked at {fps:.1f} FPS ({threads} torch threads) -> {out}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
