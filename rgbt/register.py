"""Estimate a rig's registration (visible -> thermal homography) from a sequence's first frames.

    python -m rgbt.register SEQUENCE_DIR [--frames 3] [--motion affine|homography] [--out FILE]
    python -m rgbt.register --rgb VISIBLE.png --tir THERMAL.png --out registration.json

Raw intensities do not correspond across modalities (a warm dark object, a bright cold one), so the
alignment is estimated on gradient-magnitude images, which both cameras share at object edges, by
OpenCV's ECC (`findTransformECC`), coarse to fine over an image pyramid, starting from the map that
stretches one field of view onto the other. Each of the first frame pairs is aligned on its own,
and the map most other pairs agree with wins (ECC can settle on a wrong map with a high correlation). The result is written as the sequence's
`registration.json` (ltr/data/registration.py); a run that does not converge is an error, never a
file. Our reconstruction from the issue's description; ECC itself is OpenCV's.
"""
import argparse
import json
from pathlib import Path
from typing import Sequence, Tuple

import cv2
import numpy as np

from ltr.admin.atomic import atomic_write_text
from ltr.data.image_loader import imread_rgb, list_frames
from ltr.data.registration import REGISTRATION_FILE, RegistrationError, read_registration, stretch_map

MOTIONS = {'homography': cv2.MOTION_HOMOGRAPHY, 'affine': cv2.MOTION_AFFINE}
# Two maps agree when they put the visible frame's corners within this share of the thermal frame's
# width of each other (our choice: 2% is 2-3 pixels at the synthetic rig's sizes).
AGREEMENT = 0.02


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW float32 edge strength, normalised to unit maximum."""
    grey = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    magnitude = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3))
    return magnitude / max(float(magnitude.max()), 1e-6)


def _scaled(matrix: np.ndarray, factor: float) -> np.ndarray:
    """A map between two images, for both images resized by `factor`."""
    scale = np.diag([factor, factor, 1.0])
    return scale @ matrix @ np.linalg.inv(scale)


def estimate_tir_from_rgb(rgb_frames: Sequence[np.ndarray], tir_frames: Sequence[np.ndarray],
                          motion: str = 'homography', levels: int = 3, iterations: int = 200) -> np.ndarray:
    """The 3x3 homography mapping visible pixel coordinates to thermal ones, from frame pairs of one
    rig (HxWx3 uint8). ECC runs on each pair; ECC can settle on a wrong map with a correlation as high
    as the right one's, so the maps vote: the one that most others agree with (corners within
    AGREEMENT of the thermal frame's width) wins, ties going to the higher correlation. With several
    pairs, a map no other pair agrees with is not trusted. Raises RegistrationError when ECC converges
    on no pair, or when no two pairs agree."""
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {sorted(MOTIONS)}, got {motion!r}")
    maps, failures = [], []
    for rgb, tir in zip(rgb_frames, tir_frames):
        try:
            maps.append(_estimate_pair(gradient_magnitude(rgb), gradient_magnitude(tir), motion, levels, iterations))
        except RegistrationError as err:
            failures.append(str(err))
    if not maps:
        raise RegistrationError(f"ECC converged on none of {len(failures)} frame pairs ({failures[0]}): the frames "
                                f"may share too few edges; try other frames or --motion affine")
    rgb_size = (rgb_frames[0].shape[1], rgb_frames[0].shape[0])
    tolerance = AGREEMENT * tir_frames[0].shape[1]
    votes = [sum(corner_error(mine, other, rgb_size) < tolerance for _, other in maps) - 1 for _, mine in maps]
    best = max(range(len(maps)), key=lambda i: (votes[i], maps[i][0]))
    if len(maps) > 1 and votes[best] == 0:
        raise RegistrationError(f"the {len(maps)} frame pairs ECC aligned give {len(maps)} different maps (no two "
                                f"within {tolerance:.1f} thermal pixels): the frames may share too few edges")
    return maps[best][1]


def _estimate_pair(rgb_edges: np.ndarray, tir_edges: np.ndarray, motion: str, levels: int, iterations: int):
    """(correlation, tir_from_rgb) for one pair of edge images, coarse to fine."""
    (rgb_height, rgb_width), (tir_height, tir_width) = rgb_edges.shape, tir_edges.shape
    # ECC finds the warp from the template (thermal) to the input (visible); it starts from the map
    # that stretches one field of view onto the other.
    rgb_from_tir = np.linalg.inv(stretch_map((rgb_width, rgb_height), (tir_width, tir_height)))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-6)
    correlation = 0.0
    for level in reversed(range(levels)):
        factor = 0.5 ** level
        template = cv2.resize(tir_edges, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        image = cv2.resize(rgb_edges, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        warp = _scaled(rgb_from_tir, factor).astype(np.float32)
        warp = warp if motion == 'homography' else warp[:2]
        try:
            correlation, warp = cv2.findTransformECC(template, image, warp, MOTIONS[motion], criteria, None, 5)
        except cv2.error as err:
            raise RegistrationError(f"no convergence at pyramid level {level}: "
                                    f"{str(err).strip().splitlines()[-1][:120]}") from None
        warp = warp if motion == 'homography' else np.vstack([warp, [0, 0, 1]])
        rgb_from_tir = _scaled(warp.astype(np.float64), 1 / factor)
    tir_from_rgb = np.linalg.inv(rgb_from_tir)
    return float(correlation), tir_from_rgb / tir_from_rgb[2, 2]


def corner_error(estimated: np.ndarray, true: np.ndarray, rgb_size: Tuple[int, int]) -> float:
    """Mean distance in thermal pixels between where the two maps put the visible frame's corners."""
    width, height = rgb_size
    corners = np.array([[[0, 0]], [[width - 1, 0]], [[width - 1, height - 1]], [[0, height - 1]]], np.float64)
    return float(np.linalg.norm(cv2.perspectiveTransform(corners, estimated) - cv2.perspectiveTransform(corners, true),
                                axis=2).mean())


def write_registration(path: Path, tir_from_rgb: np.ndarray, rgb_size, tir_size) -> Path:
    data = {'tir_from_rgb': tir_from_rgb.tolist(), 'rgb_size': list(rgb_size), 'tir_size': list(tir_size),
            'estimated_by': 'python -m rgbt.register (ECC on gradient magnitude)'}
    atomic_write_text(path, json.dumps(data, indent=1) + '\n')
    read_registration(path)                 # what is written must read back valid
    return path


def sequence_frames(sequence_dir: Path, count: int):
    """The first `count` (visible, thermal) frame pairs of a sequence folder with two image folders."""
    folders = sorted(p for p in Path(sequence_dir).iterdir() if p.is_dir() and list_frames(p))
    if len(folders) != 2:
        raise SystemExit(f"{sequence_dir}: expected two image folders (visible and thermal), found "
                         f"{[p.name for p in folders]}; give --rgb and --tir instead")
    visible = next((p for p in folders if p.name.lower() in ('visible', 'v', 'rgb')), folders[1])
    thermal = folders[0] if visible == folders[1] else folders[1]
    pairs = list(zip(list_frames(visible), list_frames(thermal)))[:count]
    return [imread_rgb(rgb) for rgb, _ in pairs], [imread_rgb(tir) for _, tir in pairs]


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m rgbt.register', description=__doc__.splitlines()[0])
    parser.add_argument('sequence', nargs='?', help='sequence folder (with visible and infrared image folders)')
    parser.add_argument('--rgb', help='one visible frame (instead of a sequence folder)')
    parser.add_argument('--tir', help='the thermal frame taken with it')
    parser.add_argument('--frames', type=int, default=3, help='first frame pairs used (default 3)')
    parser.add_argument('--motion', default='affine', choices=sorted(MOTIONS),
                        help='affine (default: fewer unknowns, robust with few shared edges) or homography (parallax, tilt)')
    parser.add_argument('--out', default=None, help=f"output file (default: <sequence>/{REGISTRATION_FILE})")
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    if args.sequence:
        rgb_frames, tir_frames = sequence_frames(Path(args.sequence), max(1, args.frames))
        out = Path(args.out) if args.out else Path(args.sequence) / REGISTRATION_FILE
    elif args.rgb and args.tir and args.out:
        rgb_frames, tir_frames = [imread_rgb(args.rgb)], [imread_rgb(args.tir)]
        out = Path(args.out)
    else:
        parser.error('give a sequence folder, or --rgb, --tir and --out')
    if out.exists() and not args.overwrite:
        raise SystemExit(f"{out} exists; pass --overwrite to replace it")
    try:
        tir_from_rgb = estimate_tir_from_rgb(rgb_frames, tir_frames, args.motion)
    except RegistrationError as err:
        raise SystemExit(f"{args.sequence or args.rgb}: {err}") from None
    sizes = [(f[0].shape[1], f[0].shape[0]) for f in (rgb_frames, tir_frames)]
    write_registration(out, tir_from_rgb, *sizes)
    print(f"registration ({args.motion}, {len(rgb_frames)} frame pairs) -> {out}")


if __name__ == '__main__':
    main()
