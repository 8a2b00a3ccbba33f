"""Tracking on when one modality drops out: the frame-pair reader's policy for a missing,
unreadable or blank image, and a deterministic simulation of dropped segments.

Policies (tracker parameter `missing_modality`):
- 'fail' (default, benchmarks): a missing or unreadable image is an error naming the file; a blank
  image is tracked as it is.
- 'hold': the modality's last good image is used again (what a stalled camera gives).
- 'zeros': a black image of the other modality's size is used.
Every affected frame is recorded (frame, modality, reason) and written beside the result as
`<sequence>_missing.txt`.
"""
import os
from typing import Callable, List, Optional, Tuple

import numpy as np

from ltr.data.image_loader import ImageReadError, imread_rgb, match_sizes

MISSING_POLICIES = ('fail', 'hold', 'zeros')
MODALITIES = ('rgb', 'tir')


def is_blank(image: np.ndarray) -> bool:
    """One value everywhere: what a camera that lost signal or a dropped frame writes."""
    return image.size == 0 or int(image.max()) == int(image.min())


def frame_name(source, index: int) -> str:
    """How an error names a frame: its file, or (decoded video and camera frames) its index."""
    return str(source) if isinstance(source, (str, os.PathLike)) else f"{index} of the stream"


class ModalityGuard:
    """Reads frame pairs in order and applies the missing-modality policy.

    Args:
        policy: 'fail', 'hold' or 'zeros'.
        resize_tir: resize thermal frames to the RGB size (else a size mismatch is an error).
        registered: the sequence has a registration (ltr.data.registration): the thermal frame keeps
            its own size, the tracker warps its patches through the registration.
        blanked: optional (frame index -> modality or None): a simulated drop-out replaces that
            modality's image with a black one before the policy applies.
        imread: path -> HxWx3 uint8 RGB.
    """

    def __init__(self, policy: str = 'fail', resize_tir: bool = False,
                 blanked: Optional[Callable[[int], Optional[str]]] = None, imread: Callable = imread_rgb,
                 registered: bool = False):
        if policy not in MISSING_POLICIES:
            raise ValueError(f"missing_modality must be one of {MISSING_POLICIES}, got {policy!r}")
        self.policy, self.resize_tir, self.blanked, self.imread = policy, resize_tir, blanked, imread
        self.registered = registered
        self.last_good: List[Optional[np.ndarray]] = [None, None]
        self.records: List[Tuple[int, str, str]] = []

    def _read_one(self, path: str, modality: int, index: int) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """(image, None) or (None, reason) under a tolerant policy; errors propagate under 'fail'."""
        if self.blanked is not None and self.blanked(index) == MODALITIES[modality]:
            if self.policy != 'fail':
                return None, 'simulated'
            self.records.append((index, MODALITIES[modality], 'simulated, tracked blank'))
            return self._black_like(modality), None
        try:
            image = self.imread(path)
        except (ImageReadError, FileNotFoundError, OSError) as err:
            if self.policy == 'fail':
                raise
            return None, f"unreadable: {err}"
        if self.policy != 'fail' and is_blank(image):
            return None, 'blank'
        return image, None

    def _black_like(self, modality: int) -> np.ndarray:
        reference = self.last_good[modality] if self.last_good[modality] is not None else self.last_good[1 - modality]
        if reference is None:
            raise ImageReadError("no frame of either modality has been read yet to size a blank frame")
        return np.zeros_like(reference)

    def read(self, index: int, rgb_path: str, tir_path: str) -> Tuple[np.ndarray, np.ndarray]:
        images = []
        for modality, path in enumerate((rgb_path, tir_path)):
            image, reason = self._read_one(path, modality, index)
            if image is None:
                image = self._replacement(index, modality, path, reason)
            else:
                self.last_good[modality] = image
            images.append(image)
        if self.registered:
            return images[0], images[1]
        return match_sizes(images[0], images[1], frame_name(rgb_path, index), frame_name(tir_path, index),
                           self.resize_tir)

    def _replacement(self, index: int, modality: int, path: str, reason: str) -> np.ndarray:
        name = MODALITIES[modality]
        if index == 0:
            raise ImageReadError(f"{path}: the first frame's {name} image is {reason.split(':')[0]}; tracking "
                                 f"cannot start without it")
        self.records.append((index, name, reason))
        if self.policy == 'hold' and self.last_good[modality] is not None:
            return self.last_good[modality]
        return self._black_like(modality)


def simulated_drop_out(num_frames: int, modality: str, rate: float, segment_length: int = 20,
                       seed: int = 0) -> np.ndarray:
    """(num_frames,) bool: seeded segments of `segment_length` frames in which `modality` is
    blanked, covering `rate` of the frames after the first (never frame 0, which starts tracking).
    Segments are placed without overlap at random starts, so the missing share is exact up to one
    segment's rounding."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if not 0 <= rate < 1:
        raise ValueError(f"missing rate must be in [0, 1), got {rate}")
    mask = np.zeros(num_frames, bool)
    target = int(round(rate * (num_frames - 1)))
    if target == 0:
        return mask
    rng = np.random.default_rng([seed, num_frames, int(rate * 1000), MODALITIES.index(modality)])
    slots = np.arange(1, num_frames, segment_length)            # non-overlapping segment starts
    for start in rng.permutation(slots):
        remaining = target - int(mask.sum())
        if remaining <= 0:
            break
        mask[start:start + min(segment_length, remaining)] = True
    return mask


def parse_simulation(text: str) -> Tuple[str, float]:
    """'tir:0.3' -> ('tir', 0.3), as `--simulate-missing` takes it."""
    try:
        modality, rate = text.split(':')
        rate = float(rate)
    except ValueError:
        raise ValueError(f"--simulate-missing expects MODALITY:RATE such as tir:0.3, got {text!r}") from None
    if modality not in MODALITIES or not 0 <= rate < 1:
        raise ValueError(f"--simulate-missing: modality must be rgb or tir and the rate in [0, 1), got {text!r}")
    return modality, rate
