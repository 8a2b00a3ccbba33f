"""Frame-pair sources for tracking your own footage (run_video.py), and the annotated output video.

Sources yield (rgb, tir) items that a ModalityGuard turns into HxWx3 uint8 RGB arrays: image paths
for folder pairs, decoded arrays (or None for a failed decode) for video files and cameras.
"""
import os
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple, Union

import cv2
import numpy as np

from ltr.admin.limits import check_limit
from ltr.data.image_loader import ImageReadError, list_frames
from ltr.admin.variables import read_variable


class StreamEnded(RuntimeError):
    """A camera stream stalled or ended: tracking stops, the boxes so far are kept."""


def decoded(frame: Optional[np.ndarray]) -> np.ndarray:
    """The imread of video sources: the frame is already decoded (BGR -> RGB here); None is a frame
    that could not be decoded."""
    if frame is None:
        raise ImageReadError("the video frame could not be decoded")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class FolderPairSource:
    """Two folders of frames, paired in natural numeric order; equal counts required."""
    is_live = False

    def __init__(self, rgb_dir: Path, tir_dir: Path):
        self.rgb, self.tir = list_frames(rgb_dir), list_frames(tir_dir)
        if len(self.rgb) != len(self.tir) or not self.rgb:
            raise ValueError(f"{len(self.rgb)} RGB frames in {rgb_dir} but {len(self.tir)} thermal frames in {tir_dir}")
        self.name, self.fps = Path(rgb_dir).name, 25.0

    def __len__(self) -> int:
        return len(self.rgb)

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(zip(self.rgb, self.tir))


class VideoPairSource:
    """Two video files played in step. Unequal frame counts or frame rates are an error naming both
    files (a rig whose cameras run at different rates needs its videos re-timed first); a frame size
    above the `image_pixels` bound (ltr.admin.limits) is refused from the header, before decoding."""
    is_live = False

    def __init__(self, rgb_file: Path, tir_file: Path, capture: Optional[Callable] = None):
        capture = capture or cv2.VideoCapture
        self.captures = []
        for path in (rgb_file, tir_file):
            handle = capture(str(path))
            if not handle.isOpened():
                raise ValueError(f"cannot open the video {path}")
            self.captures.append(handle)
        for path, handle in zip((rgb_file, tir_file), self.captures):
            width, height = int(handle.get(cv2.CAP_PROP_FRAME_WIDTH)), int(handle.get(cv2.CAP_PROP_FRAME_HEIGHT))
            check_limit('image_pixels', width * height, f"video {path}", f"frame width x height ({width}x{height})")
        counts = [int(c.get(cv2.CAP_PROP_FRAME_COUNT)) for c in self.captures]
        if counts[0] != counts[1]:
            raise ValueError(f"{rgb_file} has {counts[0]} frames but {tir_file} has {counts[1]}")
        rates = [c.get(cv2.CAP_PROP_FPS) or 0.0 for c in self.captures]
        if min(rates) > 0 and abs(rates[0] - rates[1]) > 0.01 * max(rates):
            raise ValueError(f"{rgb_file} runs at {rates[0]:g} fps but {tir_file} at {rates[1]:g} fps: pairing them "
                             f"frame by frame would pair different moments; re-time one video first")
        self.count = counts[0]
        self.name, self.fps = Path(rgb_file).stem, self.captures[0].get(cv2.CAP_PROP_FPS) or 25.0

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for _ in range(self.count):
            frames = [c.read() for c in self.captures]
            yield tuple(frame if ok else None for ok, frame in frames)
        for handle in self.captures:
            handle.release()


class CameraPairSource:
    """Two live cameras (indices or stream URLs), paired by arrival: both are grabbed, then both
    decoded, so each pair is the latest frame of each camera. A camera that returns no frame
    stopped or stalled: StreamEnded."""
    is_live = True

    def __init__(self, rgb_camera: Union[int, str], tir_camera: Union[int, str], capture: Optional[Callable] = None):
        capture = capture or cv2.VideoCapture
        self.names = (f"RGB camera {rgb_camera}", f"thermal camera {tir_camera}")
        self.captures = [capture(camera) for camera in (rgb_camera, tir_camera)]
        for name, handle in zip(self.names, self.captures):
            if not handle.isOpened():
                raise ValueError(f"cannot open the {name}")
        self.name, self.fps = 'camera', self.captures[0].get(cv2.CAP_PROP_FPS) or 25.0

    def __iter__(self):
        frames = 0
        while True:
            for name, handle in zip(self.names, self.captures):
                if not handle.grab():
                    raise StreamEnded(f"the {name} stopped or stalled after {frames} frames")
            pair = []
            for name, handle in zip(self.names, self.captures):
                ok, frame = handle.retrieve()
                if not ok:
                    raise StreamEnded(f"the {name} stopped or stalled after {frames} frames")
                pair.append(frame)
            frames += 1
            yield tuple(pair)

    def release(self) -> None:
        for handle in self.captures:
            handle.release()


def camera_id(text: str) -> Union[int, str]:
    """'0' -> 0 (a device index); anything else is a URL or device path."""
    return int(text) if text.isdigit() else text


def gui_available() -> bool:
    """A display and an OpenCV built with its GUI module (opencv-python-headless has none)."""
    if not (read_variable('DISPLAY') or read_variable('WAYLAND_DISPLAY') or os.name == 'nt'):
        return False
    try:
        cv2.namedWindow('cmd-rgbt')
        cv2.destroyWindow('cmd-rgbt')
        return True
    except cv2.error:
        return False


def draw_box(image: np.ndarray, box, colour, offset_x: int = 0, thickness: int = 2) -> None:
    """Draws an [x, y, w, h] box in place (skipped when not finite)."""
    if not np.all(np.isfinite(box)):
        return
    x, y, w, h = [int(round(v)) for v in box]
    cv2.rectangle(image, (x + offset_x, y), (x + offset_x + w, y + h), colour, thickness)


def annotated_frame(rgb: np.ndarray, tir: np.ndarray, box, index: int, fps: float,
                    tir_from_rgb: Optional[np.ndarray] = None) -> np.ndarray:
    """RGB and TIR side by side (BGR, for OpenCV writers and windows) with the box in both, the frame
    number and the tracking FPS. With a registration the thermal frame is shown warped into the
    visible view, so the box sits on the target in both."""
    if tir_from_rgb is not None:
        tir = cv2.warpPerspective(tir, np.asarray(tir_from_rgb, np.float64), (rgb.shape[1], rgb.shape[0]),
                                  flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    elif tir.shape[:2] != rgb.shape[:2]:
        tir = cv2.resize(tir, (rgb.shape[1], rgb.shape[0]))
    canvas = cv2.cvtColor(np.concatenate((rgb, tir), axis=1), cv2.COLOR_RGB2BGR)
    for offset in (0, rgb.shape[1]):
        draw_box(canvas, box, (0, 255, 0), offset)
    cv2.putText(canvas, f"#{index}  {fps:.1f} FPS", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1)
    return canvas


class VideoSink:
    """Writes annotated frames to an mp4 (created on the first frame, when the size is known)."""

    def __init__(self, path: Optional[Path], fps: float):
        self.path, self.fps, self.writer = path, fps, None

    def write(self, frame: np.ndarray) -> None:
        if self.path is None:
            return
        if self.writer is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*'mp4v'), self.fps,
                                          (frame.shape[1], frame.shape[0]))
            if not self.writer.isOpened():
                raise OSError(f"cannot write the video {self.path}")
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
