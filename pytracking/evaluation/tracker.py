"""A named tracker with a parameter file (pytracking's Tracker): runs sequences of frame pairs."""
import importlib
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Tuple

import numpy as np
import torch

from ltr.data.registration import find_registration
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.environment import tracker_results_dir
from pytracking.features.preprocessing import numpy_to_torch
from pytracking.libs.onnx_export import ensure_graphs
from pytracking.tracker.rgbt_dimp.compute import ComputeChoice
from pytracking.utils.missing_modality import ModalityGuard, simulated_drop_out
from rgbt.benchmarks import first_box_reason, invalid_box_reason


def sequence_registration(sequence: Sequence):
    """The registration.json of the sequence's folder (or of its rig, one level up), None without one
    or without frames."""
    folder = sequence.folder()
    return find_registration(folder) if folder is not None else None


def blanked_modality(params, sequence):
    """frame index -> the modality blanked by `params.simulate_missing` (or None), seeded by the
    tracker seed and the sequence name, so every tracker sees the same drop-outs."""
    if not params.simulate_missing:
        return None
    modality, rate, *rest = params.simulate_missing
    seed = zlib.crc32(sequence.name.encode()) + 1000003 * params.seed
    mask = simulated_drop_out(len(sequence.frames), modality, rate, *rest, seed=seed)
    return lambda index: modality if mask[index] else None


def load_parameters(name: str, parameter_name: str):
    try:
        module = importlib.import_module(f"pytracking.parameter.{name}.{parameter_name}")
    except ModuleNotFoundError as err:
        folder = Path(__file__).resolve().parents[1] / 'parameter' / name
        available = sorted(p.stem for p in folder.glob('*.py') if p.stem != '__init__') if folder.is_dir() else []
        raise ValueError(f"no parameter file {parameter_name!r} for tracker {name!r} (available: {available})") from err
    return module.parameters()


@dataclass
class TrackedFrame:
    """One step of `track_frames`: the frame pair, the tracker's output, its box and its time."""
    index: int
    image: tuple
    output: dict
    box: np.ndarray
    seconds: float


def frame_height_width(frame) -> tuple:
    """(height, width) of a decoded frame: an HxWxC array, or a (1, C, H, W) tensor already uploaded."""
    shape = tuple(int(v) for v in frame.shape)
    return shape[-2:] if len(shape) == 4 else shape[:2]


def track_frames(tracker, frames: Iterable, init_info: Callable[[tuple], dict], name: str,
                 frame_name: Optional[Callable[[int], str]] = None) -> Iterator[TrackedFrame]:
    """The frame loop of every tracking command (benchmark sequences, videos, cameras): initialises
    `tracker` on the first pair with the info `init_info(first_pair)` gives ('init_bbox'), tracks the
    others, times each call, and stops with an error naming `name` and the frame (`frame_name(index)`
    when given, e.g. its file) at a non-finite box or at a frame whose size differs from the first's
    (the tracker's geometry is fixed at initialisation)."""
    describe = frame_name or (lambda index: f"frame {index}")
    first_size = None
    for index, image in enumerate(frames):
        start = time.perf_counter()
        size = [frame_height_width(modality) for modality in image]
        if index == 0:
            first_size = size
            info = init_info(image)
            height, width = size[0]
            reason = first_box_reason(info['init_bbox'], width, height)
            if reason is not None:
                raise ValueError(f"{name}: the first frame's box {np.asarray(info['init_bbox']).tolist()} cannot "
                                 f"start tracking: {reason}")
            tracker.initialize(image, info)
            output = {'target_bbox': info['init_bbox'], 'flag': 'init'}
        else:
            if size != first_size:
                raise ValueError(f"{name}, {describe(index)}: frame size (height, width) {size} differs from the "
                                 f"first frame's {first_size}; the frames of one sequence must share one size")
            output = tracker.track(image)
        seconds = time.perf_counter() - start
        box = np.asarray(output['target_bbox'], dtype=np.float64)
        if not np.all(np.isfinite(box)):
            raise FloatingPointError(f"{name}, {describe(index)}: non-finite box {box.tolist()}")
        yield TrackedFrame(index, image, output, box, seconds)


class Tracker:
    """Args:
        name: tracker module under pytracking/tracker (cmd_student, cmd_teacher).
        parameter_name: parameter file under pytracking/parameter/<name>.
        run_id: appended to the results folder as _%03d.
        net_path: overrides the parameter file's network (file or training checkpoint folder).
        results_dir: overrides <results_path>/<name>/<parameter_name>[_<run_id>].
    """

    def __init__(self, name: str, parameter_name: str, run_id: Optional[int] = None, net_path: Optional[str] = None,
                 display_name: Optional[str] = None, results_dir: Optional[os.PathLike] = None,
                 simulate_missing: Optional[Tuple[str, float]] = None, param_overrides: Optional[dict] = None):
        self.name = name
        self.parameter_name = parameter_name
        self.run_id = run_id
        self.display_name = display_name or name
        self.net_path = net_path
        self.simulate_missing = simulate_missing
        self.param_overrides = dict(param_overrides or {})      # applied over the parameter file (checked keys)
        folder = tracker_results_dir(name, parameter_name, run_id)
        if simulate_missing is not None:          # its own results: never mixed with the full-modality run
            folder = folder.with_name(folder.name + f"_missing_{simulate_missing[0]}{simulate_missing[1]:g}")
        # likewise another backend's or precision's
        folder = folder.with_name(folder.name + ComputeChoice.folder_suffix_of(self.get_parameters()))
        self.results_dir = Path(results_dir) if results_dir else folder
        self.tracker_class = importlib.import_module(f"pytracking.tracker.{name}").get_tracker_class()

    def get_parameters(self, debug: int = 0):
        params = load_parameters(self.name, self.parameter_name)
        if self.net_path:
            params.net.path = self.net_path
        params.debug = debug
        if self.simulate_missing is not None:
            params.simulate_missing = tuple(self.simulate_missing)
        params.update(**self.param_overrides)
        return params

    def create_tracker(self, params):
        """The tracker; with an exported-graph backend its graphs are exported (or built) first when the
        default folder lacks them, so that the tracker only opens and checks them."""
        ensure_graphs(params, ComputeChoice.from_params(params))
        return self.tracker_class(params)

    def run_sequence(self, sequence: Sequence, debug: int = 0, params=None, visualizer=None) -> dict:
        """Tracks a sequence; returns {'target_bbox': [[x, y, w, h], ...], 'time': [...], 'flags': [...]}.

        Frames are decoded one ahead in a background thread. A missing, corrupt or truncated frame, a
        thermal frame of another size than its RGB frame (unless `resize_tir`) and an invalid first box
        raise an error naming the file or the sequence."""
        init_box = sequence.init_info()['init_bbox']
        reason = invalid_box_reason(init_box)
        if reason is not None:
            raise ValueError(f"{sequence.name}: the first frame's box {np.asarray(init_box).tolist()} cannot start "
                             f"tracking: {reason}")
        params = params or self.get_parameters(debug)
        tracker = self.create_tracker(params)
        upload = ComputeChoice.from_params(params).device == 'cuda' and not debug
        if debug and visualizer is None:
            from pytracking.utils.debug_view import make_debug_view  # deferred: debug only (matplotlib, visdom)
            visualizer = make_debug_view(params.debug_dir or self.results_dir / 'debug')
        # The current CUDA device is per thread: the reader thread is told the one this thread tracks on.
        device = torch.device('cuda', torch.cuda.current_device()) if upload else None
        upload_stream = torch.cuda.Stream(device=device) if upload else None

        registration = sequence_registration(sequence)
        guard = ModalityGuard(params.missing_modality, params.resize_tir, blanked_modality(params, sequence),
                              registered=registration is not None and registration.tir_from_rgb is not None)

        def read(index):
            """Decodes frame `index` (and on a GPU uploads it on a side stream); returns the frames and
            the event that marks the upload done, so the tracker waits on the device, not the host."""
            frames = guard.read(index, *sequence.frames[index])
            if not upload or index == 0:
                return frames, None
            with torch.cuda.device(device), torch.cuda.stream(upload_stream):
                frames = tuple(numpy_to_torch(f, device=device) for f in frames)
                ready = torch.cuda.Event()
                ready.record(upload_stream)
            return frames, ready

        def wait_for(frames, ready):
            if ready is not None:
                stream = torch.cuda.current_stream()
                stream.wait_event(ready)
                for frame in frames:          # allocated on the upload stream, used on this one
                    frame.record_stream(stream)
            return frames

        def prefetched():
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(read, 0)
                for index in range(len(sequence.frames)):
                    image = wait_for(*pending.result())
                    if index + 1 < len(sequence.frames):
                        pending = pool.submit(read, index + 1)
                    yield image

        boxes, times, flags = [], [], []
        for step in track_frames(tracker, prefetched(), lambda image: {**sequence.init_info(), 'registration': registration},
                                 sequence.name,
                                 lambda index: f"frame {index} ({sequence.frames[index][0]})"):
            boxes.append(step.box.tolist())
            times.append(step.seconds)
            flags.append(step.output.get('flag'))
            if visualizer is not None:
                visualizer(sequence, step.index, step.image, step.output)
        return {'target_bbox': boxes, 'time': times, 'flags': flags, 'missing': guard.records}
