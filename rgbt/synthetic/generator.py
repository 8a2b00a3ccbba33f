"""A deterministic procedural RGB-T benchmark.

Each sequence renders a textured background seen by a moving camera, one target and a few
distractors, in two modalities whose appearance differs the way real visible/thermal pairs do:

- RGB: coloured texture; the target has a colour, some distractors share it (an RGB-only lure).
- TIR: grey "temperature"; the target is warm, some distractors are warm too but differently
  coloured in RGB (a TIR-only lure). TIR is slightly misaligned with RGB (a few pixels), so each
  modality has its own box, as in RGBT234.

Per-sequence challenge attributes (drawn at random): low illumination (dark, noisy RGB), thermal
crossover (the target cools to the background temperature for a while), partial or heavy
occlusion, scale variation, fast motion, motion blur, background clutter, camera motion, and
low resolution (a small target). Frames are written as JPEG (TIR as grey replicated to 3 channels)
in the GTOT, RGBT234 or LasHeR layout, so the real loaders read them.
"""
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from ltr.admin.json_files import read_json_object
from ltr.data.registration import REGISTRATION_FILE
from rgbt import benchmarks
from tqdm import tqdm

ATTRIBUTES = ('low_illumination', 'thermal_crossover', 'partial_occlusion', 'heavy_occlusion', 'scale_variation',
              'fast_motion', 'motion_blur', 'background_clutter', 'camera_motion', 'low_resolution')

# Our attributes in each layout's vocabulary.
ATTRIBUTE_NAMES = {
    'rgbt234': {'low_illumination': 'LI', 'thermal_crossover': 'TC', 'partial_occlusion': 'PO',
                'heavy_occlusion': 'HO', 'scale_variation': 'SC', 'fast_motion': 'FM', 'motion_blur': 'MB',
                'background_clutter': 'BC', 'camera_motion': 'CM', 'low_resolution': 'LR'},
    'gtot': {'low_illumination': 'LI', 'thermal_crossover': 'TC', 'partial_occlusion': 'OCC',
             'heavy_occlusion': 'OCC', 'scale_variation': 'LSV', 'fast_motion': 'FM', 'low_resolution': 'SO'},
    'lasher': {'low_illumination': 'LI', 'thermal_crossover': 'TC', 'partial_occlusion': 'PO',
               'heavy_occlusion': 'HO', 'scale_variation': 'SV', 'fast_motion': 'FM', 'motion_blur': 'MB',
               'background_clutter': 'BC', 'camera_motion': 'CM', 'low_resolution': 'LR'},
    'vtuav': {},                 # VTUAV's attribute files are not written (their format is not documented)
}
NO_OCCLUSION = {'rgbt234': 'NO', 'lasher': 'NO'}


@dataclass(frozen=True)
class SequenceSpec:
    """`unaligned`: the thermal camera has its own resolution and view (issue 26): each sequence's
    thermal frames are warped by a drawn homography (scale 0.5-0.8, rotation within 3 degrees, a shift
    within 5% of the frame) into a smaller frame, its thermal boxes mapped alike, and the true
    `registration.json` written beside the sequence. `thermal_16bit`: thermal frames are 16-bit PNGs
    of raw counts (27000 + 24 per grey level, with sensor noise), as radiometric cameras write."""
    num_frames: int = 100
    width: int = 320
    height: int = 256
    unaligned: bool = False
    thermal_16bit: bool = False


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int, channels: int) -> np.ndarray:
    """Low-frequency texture in [0, 1]: random values on a coarse grid, resized with bicubic interpolation."""
    coarse = rng.random((cells, max(2, cells * width // height), channels)).astype(np.float32)
    texture = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(texture.reshape(height, width, channels), 0, 1)


def _trajectory(rng: np.random.Generator, num_frames: int, amplitude: np.ndarray, speed: float) -> np.ndarray:
    """(num_frames, 2) smooth path: a sum of two random sinusoids per axis, in [-amplitude, amplitude]."""
    t = np.arange(num_frames)[:, None]
    freq = speed * rng.uniform(0.5, 1.5, size=(2, 2)) * 2 * np.pi / num_frames
    phase = rng.uniform(0, 2 * np.pi, size=(2, 2))
    path = 0.6 * np.sin(freq[0] * t + phase[0]) + 0.4 * np.sin(freq[1] * t + phase[1])
    return path * amplitude


class _Object:
    """A textured ellipse with an RGB colour and a temperature."""

    def __init__(self, rng, size, color, temperature):
        self.size = np.asarray(size, dtype=np.float64)          # (w, h) at scale 1
        self.color = np.asarray(color, dtype=np.float32)
        self.temperature = float(temperature)
        self.pattern = 0.75 + 0.25 * _smooth_noise(rng, 64, 64, 4, 1)[:, :, 0]

    def draw(self, rgb, tir, box_rgb, box_tir, temperature=None):
        for image, box, value in ((rgb, box_rgb, self.color), (tir, box_tir, temperature or self.temperature)):
            x, y, w, h = box
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            x1, y1 = int(np.ceil(x + w)), int(np.ceil(y + h))
            cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, image.shape[1]), min(y1, image.shape[0])
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            ys, xs = np.mgrid[cy0:cy1, cx0:cx1].astype(np.float32)
            inside = ((xs + 0.5 - (x + w / 2)) / (w / 2)) ** 2 + ((ys + 0.5 - (y + h / 2)) / (h / 2)) ** 2 <= 1
            pattern = cv2.resize(self.pattern, (x1 - x0, y1 - y0))[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            region = image[cy0:cy1, cx0:cx1]
            shaded = np.asarray(value, dtype=np.float32) * (pattern[..., None] if region.ndim == 3 else pattern)
            mask = inside[..., None] if region.ndim == 3 else inside
            image[cy0:cy1, cx0:cx1] = np.where(mask, shaded, region)


def _draw_attributes(rng: np.random.Generator) -> Tuple[str, ...]:
    chosen = [a for a in ATTRIBUTES if rng.random() < 0.3]
    if 'partial_occlusion' in chosen and 'heavy_occlusion' in chosen:
        chosen.remove('partial_occlusion')
    if 'motion_blur' in chosen and 'fast_motion' not in chosen:
        chosen.append('fast_motion')
    return tuple(a for a in ATTRIBUTES if a in chosen)


def render_sequence(rng: np.random.Generator, spec: SequenceSpec = SequenceSpec()):
    """Renders one sequence.

    Returns:
        rgb_frames, tir_frames: lists of HxWx3 uint8 (TIR grey replicated to 3 channels);
        gt_rgb, gt_tir: (N, 4) float boxes [x, y, w, h]; attributes: tuple of ATTRIBUTES names.
    """
    attributes = _draw_attributes(rng)
    has = attributes.__contains__
    n, width, height = spec.num_frames, spec.width, spec.height
    margin = 64
    canvas_rgb = 40 + 170 * _smooth_noise(rng, height + 2 * margin, width + 2 * margin, 8, 3)
    canvas_tir = 60 + 60 * _smooth_noise(rng, height + 2 * margin, width + 2 * margin, 6, 1)[:, :, 0]
    if has('background_clutter'):
        canvas_rgb = canvas_rgb * 0.5 + 110 * _smooth_noise(rng, height + 2 * margin, width + 2 * margin, 24, 3)

    camera = _trajectory(rng, n, np.array([margin, margin]) * (0.9 if has('camera_motion') else 0.1),
                         3.0 if has('camera_motion') else 1.0)
    base = rng.uniform(0.08, 0.14) * min(width, height) if has('low_resolution') else rng.uniform(0.15, 0.3) * min(width, height)
    target = _Object(rng, (base * rng.uniform(0.7, 1.4), base * rng.uniform(0.7, 1.4)),
                     rng.uniform(0, 255, size=3), rng.uniform(200, 245))
    scale = np.ones(n)
    if has('scale_variation'):
        scale = np.maximum(1.0 + 0.6 * np.sin(np.linspace(0, rng.uniform(1.5, 3) * np.pi, n)), 0.5)
    speed = 6.0 if has('fast_motion') else 1.5
    centre = np.array([width, height]) / 2 + _trajectory(rng, n, np.array([width, height]) * 0.3, speed)
    misalignment = rng.uniform(-3, 3, size=2)                   # TIR camera offset (pixels)

    distractors = []
    for index in range(rng.integers(1, 4) + (2 if has('background_clutter') else 0)):
        lure = index % 3
        color = target.color if lure == 0 else rng.uniform(0, 255, size=3)          # RGB lure: same colour
        temperature = target.temperature if lure == 1 else rng.uniform(70, 130)    # TIR lure: same warmth
        obj = _Object(rng, target.size * rng.uniform(0.7, 1.2), color, temperature)
        path = np.array([width, height]) / 2 + _trajectory(rng, n, np.array([width, height]) * 0.45, 2.0)
        distractors.append((obj, path))

    crossover = np.zeros(n)
    if has('thermal_crossover'):
        start = rng.integers(0, n // 2)
        crossover[start:start + n // 3] = 1.0
        crossover = np.convolve(crossover, np.ones(7) / 7, mode='same')
    occluder = None
    if has('partial_occlusion') or has('heavy_occlusion'):
        coverage = 1.0 if has('heavy_occlusion') else 0.5
        start = rng.integers(n // 5, n // 2)
        occluder = (start, start + max(5, n // 6), coverage)

    rgb_frames, tir_frames, gt_rgb, gt_tir = [], [], [], []
    for t in range(n):
        ox, oy = (margin + camera[t]).astype(int)
        rgb = canvas_rgb[oy:oy + height, ox:ox + width].copy()
        tir = canvas_tir[oy:oy + height, ox:ox + width].copy()
        for obj, path in distractors:
            w, h = obj.size
            box = np.array([path[t, 0] - w / 2, path[t, 1] - h / 2, w, h])
            obj.draw(rgb, tir, box, box + np.r_[misalignment, 0, 0])
        w, h = target.size * scale[t]
        box = np.array([centre[t, 0] - w / 2, centre[t, 1] - h / 2, w, h])
        box_tir = box + np.r_[misalignment + rng.normal(0, 0.5, size=2), 0, 0]
        background_temperature = float(np.median(tir))
        temperature = (1 - crossover[t]) * target.temperature + crossover[t] * background_temperature
        target.draw(rgb, tir, box, box_tir, temperature)
        if occluder is not None and occluder[0] <= t < occluder[1]:
            x0 = int(box[0] + (1 - occluder[2]) * box[2])
            x1 = int(box[0] + box[2]) + 2
            y0, y1 = int(box[1]) - 2, int(box[1] + box[3]) + 2
            rgb[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = (90, 90, 90)
            tir[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 80
        if has('motion_blur'):
            rgb = cv2.blur(rgb, (9, 1))
            tir = cv2.blur(tir, (9, 1))
        if has('low_illumination'):
            rgb = rgb * 0.25 + rng.normal(0, 6, size=rgb.shape)
        tir = tir + rng.normal(0, 2, size=tir.shape)
        rgb_frames.append(np.clip(rgb, 0, 255).astype(np.uint8))
        tir_frames.append(np.repeat(np.clip(tir, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))
        gt_rgb.append(box)
        gt_tir.append(box_tir)
    return rgb_frames, tir_frames, np.array(gt_rgb), np.array(gt_tir), attributes


def _clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clips [x, y, w, h] to the image (what an annotator can see); integer pixels as in the real files."""
    x0, y0 = np.clip(np.round(box[:2]), 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.round(box[:2] + box[2:]), 0, [width, height])
    return np.array([x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)])


def unalign(rng: np.random.Generator, tir_frames, gt_tir: np.ndarray, width: int, height: int):
    """A thermal camera with its own resolution and view: (thermal frames, thermal boxes, registration
    dict) for frames rendered aligned with the visible ones."""
    scale, angle = rng.uniform(0.5, 0.8), np.deg2rad(rng.uniform(-3.0, 3.0))
    tir_width, tir_height = int(round(width * scale)), int(round(height * scale))
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = rng.uniform(-0.05, 0.05, 2) * [tir_width, tir_height]
    centre, tir_centre = np.array([(width - 1) / 2, (height - 1) / 2]), np.array([(tir_width - 1) / 2, (tir_height - 1) / 2])
    tir_from_rgb = np.eye(3)
    tir_from_rgb[:2, :2] = rotation
    tir_from_rgb[:2, 2] = tir_centre + shift - rotation @ centre
    frames = [cv2.warpPerspective(f, tir_from_rgb, (tir_width, tir_height), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT) for f in tir_frames]
    corners = np.stack([gt_tir[:, :2], gt_tir[:, :2] + [1, 0] * gt_tir[:, 2:], gt_tir[:, :2] + gt_tir[:, 2:],
                        gt_tir[:, :2] + [0, 1] * gt_tir[:, 2:]], axis=1)                       # (N, 4, 2)
    mapped = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), tir_from_rgb).reshape(-1, 4, 2)
    boxes = np.concatenate([mapped.min(axis=1), mapped.max(axis=1) - mapped.min(axis=1)], axis=1)
    registration = {'tir_from_rgb': tir_from_rgb.tolist(), 'rgb_size': [width, height],
                    'tir_size': [tir_width, tir_height]}
    return frames, boxes, registration


def raw_thermal(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """A grey thermal frame (HxWx3 uint8) as a radiometric camera's 16-bit counts."""
    counts = 27000.0 + 24.0 * frame[:, :, 0].astype(np.float64) + rng.normal(0, 8, size=frame.shape[:2])
    return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


def _write_sequence(layout: str, seq_dir: Path, rendered, spec: SequenceSpec,
                    rig_rng: Optional[np.random.Generator] = None) -> None:
    rgb_frames, tir_frames, gt_rgb, gt_tir, _ = rendered
    registration = None
    if spec.unaligned:
        tir_frames, gt_tir, registration = unalign(rig_rng, tir_frames, gt_tir, spec.width, spec.height)
    tmp_dir = seq_dir.with_name(seq_dir.name + '.partial')
    shutil.rmtree(tmp_dir, ignore_errors=True)
    rgb_paths, tir_paths = benchmarks.LAYOUTS[layout].frame_paths(tmp_dir, len(rgb_frames))
    rgb_paths[0].parent.mkdir(parents=True)
    tir_paths[0].parent.mkdir(parents=True)
    for path, image in zip(rgb_paths, rgb_frames):
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    for path, image in zip(tir_paths, tir_frames):
        if spec.thermal_16bit:
            cv2.imwrite(str(path.with_suffix('.png')), raw_thermal(rig_rng, image))
        else:
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    tir_height, tir_width = tir_frames[0].shape[:2]
    benchmarks.LAYOUTS[layout].write_annotations(tmp_dir, np.array([_clip_box(b, spec.width, spec.height) for b in gt_rgb]),
                                          np.array([_clip_box(b, tir_width, tir_height) for b in gt_tir]))
    if registration is not None:
        (tmp_dir / REGISTRATION_FILE).write_text(json.dumps(registration, indent=1))
    shutil.rmtree(seq_dir, ignore_errors=True)
    os.replace(tmp_dir, seq_dir)


def layout_attributes(layout: str, attributes: Tuple[str, ...]) -> Tuple[str, ...]:
    """Our attribute names in the vocabulary of `layout`."""
    names = [ATTRIBUTE_NAMES[layout][a] for a in attributes if a in ATTRIBUTE_NAMES[layout]]
    if layout in NO_OCCLUSION and not {'partial_occlusion', 'heavy_occlusion'} & set(attributes):
        names.append(NO_OCCLUSION[layout])
    return tuple(dict.fromkeys(names))


def _read_meta(meta_file: Path):
    """The recorded parameters of a generated benchmark, or None when the file is unreadable (the
    benchmark is then generated again)."""
    try:
        return read_json_object(meta_file)
    except ValueError:
        return None


def generate_benchmark(out: os.PathLike, layout: str = 'rgbt234', sequences: Dict[str, int] = None,
                       spec: SequenceSpec = SequenceSpec(), seed: int = 0, progress: bool = True) -> Path:
    """Writes the benchmark (train and test splits) to `out`, unless an identical one is complete there.

    Args:
        sequences: number of sequences per split, default {'train': 20, 'test': 10}.
    Returns:
        the root folder.
    """
    if layout not in benchmarks.LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(benchmarks.LAYOUTS)}")
    sequences = dict(sequences or {'train': 20, 'test': 10})
    root = Path(out)
    meta = {'layout': layout, 'seed': seed, 'sequences': sequences, 'frames': spec.num_frames,
            'width': spec.width, 'height': spec.height, 'generator_version': 1}
    meta.update({key: True for key in ('unaligned', 'thermal_16bit') if getattr(spec, key)})
    meta_file = root / benchmarks.SYNTHETIC_META
    if meta_file.is_file() and _read_meta(meta_file) == meta:
        return root
    meta_file.unlink(missing_ok=True)                 # written last: marks a complete benchmark
    total = sum(sequences.values())
    bar = _progress(total, progress, f"synthetic RGB-T benchmark -> {root}")
    for split_id, (split, count) in enumerate(sorted(sequences.items())):
        names = [f"{split}{index:03d}" for index in range(count)]
        attributes = {}
        folder = benchmarks.LAYOUTS[layout].split_folder(root, split)
        for index, name in enumerate(names):
            rng = np.random.default_rng([seed, split_id, index])
            rendered = render_sequence(rng, spec)
            attributes[name] = layout_attributes(layout, rendered[4])
            # The rig's draws come from their own stream: the rendered scene is the aligned benchmark's.
            _write_sequence(layout, folder / name, rendered, spec, np.random.default_rng([seed, split_id, index, 1]))
            bar.update(1)
        benchmarks.LAYOUTS[layout].write_split_index(root, split, names, attributes)
    bar.close()
    meta_file.write_text(json.dumps(meta, indent=1))
    return root


def _progress(total: int, enabled: bool, description: str):
    return tqdm(total=total, disable=not enabled, desc=description, unit='seq')
