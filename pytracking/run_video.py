"""Track your own RGB-T footage: two folders of frames (paired in natural numeric order), two video
files, or two live cameras.

    python pytracking/run_video.py cmd_student --rgb DIR --tir DIR --init x,y,w,h [--out boxes.txt]
    python pytracking/run_video.py cmd_student --rgb rgb.mp4 --tir thermal.mp4 --init x,y,w,h --save-video out.mp4
    python pytracking/run_video.py cmd_student --rgb-camera 0 --tir-camera 1 [--init x,y,w,h]

Without --init the box is drawn with the mouse (needs a display and OpenCV's GUI module). With a
display the tracking is shown live (q or Esc stops); the boxes so far are always saved.
"""
import argparse
import itertools
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import numpy as np  # noqa: E402

from ltr.admin.atomic import atomic_savetxt  # noqa: E402
from ltr.admin.paths import OverwriteError, check_output, same_file  # noqa: E402
from ltr.data.image_loader import ImageReadError, add_thermal_range_argument, imread_rgb, set_thermal_range  # noqa: E402
from ltr.data.registration import Registration, RegistrationError, read_registration  # noqa: E402
from pytracking.evaluation.running import set_num_threads  # noqa: E402
from pytracking.evaluation.tracker import Tracker, track_frames  # noqa: E402
from pytracking.run_tracker import add_backend_arguments, backend_overrides  # noqa: E402
from pytracking.utils.missing_modality import ModalityGuard  # noqa: E402
from pytracking.utils.video_io import (CameraPairSource, FolderPairSource, StreamEnded, VideoPairSource,  # noqa: E402
                                       VideoSink, annotated_frame, camera_id, decoded, gui_available)
from rgbt.benchmarks import first_box_reason  # noqa: E402
from rgbt.register import estimate_tir_from_rgb  # noqa: E402
import cv2  # noqa: E402

_logger = logging.getLogger('run_video')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Track a target in RGB-T footage: frame folders, videos or cameras.')
    parser.add_argument('tracker_name')
    parser.add_argument('tracker_param', nargs='?', default='default')
    parser.add_argument('--rgb', type=Path, help='RGB frame folder or video file')
    parser.add_argument('--tir', type=Path, help='thermal frame folder or video file')
    parser.add_argument('--rgb-camera', help='RGB camera index or stream URL')
    parser.add_argument('--tir-camera', help='thermal camera index or stream URL')
    parser.add_argument('--init', default=None, help='x,y,w,h of the target in the first frame (default: drawn)')
    parser.add_argument('--out', default=None, help='box file (default: <rgb name>_<tracker>_boxes.txt beside the '
                                                    'RGB input, or <tracker>_camera_boxes.txt for cameras)')
    parser.add_argument('--save-video', type=Path, default=None, help='mp4 of RGB and TIR side by side with the box')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing output files (an output is never allowed to replace an input)')
    parser.add_argument('--net', default=None)
    parser.add_argument('--missing-modality', default=None, choices=('fail', 'hold', 'zeros'),
                        help="a missing, unreadable or blank frame of one modality: stop (default for files), "
                             "reuse that modality's last good frame (default for cameras), or feed a black one")
    parser.add_argument('--resize-tir', action='store_true',
                        help='resize thermal frames to the RGB size (default: a size mismatch is an error)')
    parser.add_argument('--registration', '--register', default=None,
                        help="the rig's registration.json (visible -> thermal homography and frame sizes, see "
                             "docs/real_world.md), or 'auto' to estimate it from the first frame pair: thermal patches "
                             "are then warped through it instead of stretching frames")
    parser.add_argument('--no-window', action='store_true', help='no live window even when a display exists')
    add_backend_arguments(parser)
    add_thermal_range_argument(parser)
    args = parser.parse_args(argv)
    cameras = args.rgb_camera is not None or args.tir_camera is not None
    if cameras and (args.rgb_camera is None or args.tir_camera is None or args.rgb or args.tir):
        parser.error('give --rgb-camera and --tir-camera together, without --rgb/--tir')
    if not cameras and (args.rgb is None or args.tir is None):
        parser.error('give --rgb and --tir (frame folders or video files), or --rgb-camera and --tir-camera')
    return parser, args


def open_source(parser, args):
    """(source, imread) for the arguments; errors name what is wrong."""
    try:
        if args.rgb_camera is not None:
            return CameraPairSource(camera_id(args.rgb_camera), camera_id(args.tir_camera)), decoded
        for path in (args.rgb, args.tir):
            if not path.exists():
                parser.error(f"{path} does not exist")
        if args.rgb.is_dir() and args.tir.is_dir():
            return FolderPairSource(args.rgb, args.tir), imread_rgb
        if args.rgb.is_file() and args.tir.is_file():
            return VideoPairSource(args.rgb, args.tir), decoded
        parser.error(f"--rgb and --tir must both be folders or both video files: {args.rgb}, {args.tir}")
    except ValueError as err:
        parser.error(str(err))


def default_box_file(args) -> Path:
    """The box file for the input: named after it, so that two clips in one folder do not share one."""
    if args.rgb is None:
        return Path(f"{args.tracker_name}_camera_boxes.txt")
    return args.rgb.parent / f"{args.rgb.stem if args.rgb.is_file() else args.rgb.name}_{args.tracker_name}_boxes.txt"


def check_outputs(parser, args) -> Path:
    """The box file; refuses (before any tracking) outputs that are inputs, folders, or existing files
    without --overwrite."""
    out = Path(args.out) if args.out else default_box_file(args)
    inputs = [args.rgb, args.tir]
    if args.save_video is not None and same_file(args.save_video, out):
        parser.error(f"--save-video and the box file are the same file {out}")
    try:
        for path, what in ((out, 'box file'), (args.save_video, '--save-video')):
            if path is not None:
                check_output(path, inputs, args.overwrite, what)
    except OverwriteError as err:
        parser.error(str(err))
    return out


def initial_box(parser, args, rgb: np.ndarray, window: bool) -> np.ndarray:
    if args.init is None:
        if not window:
            parser.error("--init x,y,w,h is needed: drawing the box needs a display and OpenCV's GUI module "
                         "(opencv-python-headless has none)")
        box = cv2.selectROI('draw the target, then Enter', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), showCrosshair=True)
        cv2.destroyWindow('draw the target, then Enter')
        init = np.array(box, dtype=np.float64)
    else:
        try:
            init = np.array([float(v) for v in args.init.split(',')], dtype=np.float64)
        except ValueError:
            init = np.zeros(0)
    reason = first_box_reason(init, rgb.shape[1], rgb.shape[0])
    if reason is not None:
        parser.error(f"--init must be x,y,w,h of a box in the first frame, got {args.init!r}: {reason}")
    return init


def given_registration(parser, args):
    """The registration read from --registration FILE (None without one, or for 'auto')."""
    if args.registration in (None, 'auto'):
        return None
    try:
        return read_registration(args.registration)
    except (RegistrationError, FileNotFoundError) as err:
        parser.error(str(err))


def estimated_registration(parser, frames):
    """(frames, registration) with the registration estimated from the first frame pair, which is put
    back in front of the others."""
    try:
        first = next(frames)
    except StopIteration:
        parser.error('the inputs have no frames')
    try:
        tir_from_rgb = estimate_tir_from_rgb([first[0]], [first[1]], 'affine')
    except RegistrationError as err:
        parser.error(f"--registration auto: {err}")
    (rgb_height, rgb_width), (tir_height, tir_width) = first[0].shape[:2], first[1].shape[:2]
    registration = Registration('the first frame pair (--registration auto)', tir_from_rgb, (rgb_width, rgb_height),
                                (tir_width, tir_height))
    _logger.info("registration estimated from the first frame pair: tir_from_rgb %s", np.round(tir_from_rgb, 4).tolist())
    return itertools.chain([first], frames), registration


@dataclass
class VideoRun:
    """What a tracking run produced: a box and a time per tracked frame, and why it stopped."""
    boxes: list = field(default_factory=list)
    times: list = field(default_factory=list)
    stop_reason: Optional[str] = None
    failed: bool = False

    def fps(self) -> Optional[float]:
        return (len(self.times) - 1) / max(sum(self.times[1:]), 1e-9) if len(self.times) > 1 else None


def build_tracker(args, policy: str):
    """(tracker object, torch threads) for the arguments."""
    tracker = Tracker(args.tracker_name, args.tracker_param, net_path=args.net, param_overrides=backend_overrides(args))
    params = tracker.get_parameters()
    params.update(resize_tir=args.resize_tir, missing_modality=policy)
    threads = set_num_threads(params.get('threads'))
    return tracker.create_tracker(params), threads


def track_video(parser, args, tracker_obj, frames, source, registration) -> VideoRun:
    """Tracks `frames`, writing the annotated video and showing the window when asked; stops cleanly
    at the end of the stream, on a stop from the window, on Ctrl-C, or on a frame that cannot be
    tracked (a failed run)."""
    run = VideoRun()
    window = not args.no_window and gui_available()
    sink = VideoSink(args.save_video, source.fps)
    first_box = lambda image: {'init_bbox': initial_box(parser, args, image[0], window).tolist(),  # noqa: E731
                               'registration': registration}
    tir_from_rgb = registration.tir_from_rgb if registration is not None else None
    try:
        for step in track_frames(tracker_obj, frames, first_box, str(args.rgb or args.rgb_camera)):
            run.times.append(step.seconds)
            run.boxes.append(step.box)
            if args.save_video or window:
                frame = annotated_frame(*step.image, step.box, step.index, run.fps() or 0.0, tir_from_rgb)
                sink.write(frame)
                if window and show(frame):
                    run.stop_reason = 'stopped from the window'
                    break
    except StreamEnded as err:
        run.stop_reason = str(err)
    except (ImageReadError, FileNotFoundError, FloatingPointError, ValueError) as err:
        # --missing-modality fail, a lost track, frames that do not fit the registration or the first frame's size
        run.stop_reason, run.failed = f"stopped: {err}", True
    except KeyboardInterrupt:
        run.stop_reason = 'interrupted'
    finally:
        sink.close()
        if isinstance(source, CameraPairSource):
            source.release()
    return run


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    parser, args = parse_args(argv)
    if args.thermal_range:
        set_thermal_range(args.thermal_range)
    out = check_outputs(parser, args)
    source, imread = open_source(parser, args)
    policy = args.missing_modality or ('hold' if source.is_live else 'fail')
    tracker_obj, threads = build_tracker(args, policy)
    registration = given_registration(parser, args)
    guard = ModalityGuard(policy, args.resize_tir, imread=imread, registered=args.registration is not None)
    frames = (guard.read(index, *pair) for index, pair in enumerate(source))
    if args.registration == 'auto':
        frames, registration = estimated_registration(parser, frames)
    run = track_video(parser, args, tracker_obj, frames, source, registration)
    if run.boxes:
        atomic_savetxt(out, np.asarray(run.boxes), fmt='%.2f', delimiter=',')
    for frame, modality, reason in guard.records:
        _logger.warning("frame %d: %s image %s", frame, modality, reason)
    speed = f" at {run.fps():.1f} FPS" if run.fps() is not None else ''
    print(f"{len(run.boxes)} frames tracked{speed} ({threads} torch threads) -> {out if run.boxes else 'no box file'}"
          + (f"; {run.stop_reason}" if run.stop_reason else '') + (f"; video: {args.save_video}" if args.save_video else ''),
          file=sys.stderr if run.failed else sys.stdout)
    return 1 if run.failed else 0


def show(frame) -> bool:
    """Shows the frame; True when the user asked to stop (q or Esc)."""
    cv2.imshow('cmd-rgbt', frame)
    return cv2.waitKey(1) & 0xFF in (ord('q'), 27)


if __name__ == '__main__':
    sys.exit(main())
