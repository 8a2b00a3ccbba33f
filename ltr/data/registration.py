"""`registration.json`: how a rig's thermal camera sees what its visible camera sees (issue 26).

A sequence folder (beside its visible and infrared folders) or a rig folder (one level up, for
every sequence below it) may hold

    {"tir_from_rgb": [[h11, h12, h13], [h21, h22, h23], [h31, h32, h33]],
     "rgb_size": [width, height], "tir_size": [width, height],
     "thermal_range": [low, high]}

`tir_from_rgb` is the 3x3 homography mapping visible pixel coordinates (x, y, 1) to thermal pixel
coordinates, made for frames of `rgb_size` and `tir_size`; `thermal_range` the raw 16-bit values
mapped to 0 and 255 (ltr.data.image_loader). Every key is optional, but the homography needs both
sizes. Everything is validated on read (finite, invertible, bounded condition number, sizes within
the image bound) with a RegistrationError naming the file and the field.
"""
import math
import os
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ltr.admin.json_files import read_json_object
from ltr.admin.limits import bound

REGISTRATION_FILE = 'registration.json'
# A homography whose condition number exceeds this is numerically singular for pixel coordinates
# (our choice: a scale change of 10x and a shift of a few thousand pixels stay far below it).
MAX_CONDITION = 1e8


class RegistrationError(ValueError):
    """A registration.json that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Registration:
    path: str
    tir_from_rgb: Optional[np.ndarray] = None          # (3, 3) float64, normalised so that [2, 2] == 1
    rgb_size: Optional[Tuple[int, int]] = None         # (width, height)
    tir_size: Optional[Tuple[int, int]] = None
    thermal_range: Optional[Tuple[float, float]] = None

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) visible pixel coordinates -> (N, 2) thermal pixel coordinates."""
        if self.tir_from_rgb is None:
            raise RegistrationError(f"{self.path} has no tir_from_rgb")
        homogeneous = np.concatenate([np.asarray(points, np.float64), np.ones((len(points), 1))], axis=1)
        mapped = homogeneous @ self.tir_from_rgb.T
        return mapped[:, :2] / mapped[:, 2:3]


def stretch_map(rgb_size: Tuple[int, int], tir_size: Tuple[int, int]) -> np.ndarray:
    """The tir_from_rgb of stretching one frame onto the other, the two fields of view taken as one
    (what tracking without a registration does with `resize_tir`); sizes are (width, height)."""
    return np.diag([tir_size[0] / rgb_size[0], tir_size[1] / rgb_size[1], 1.0])


def _size(data: dict, key: str, path) -> Optional[Tuple[int, int]]:
    value = data.get(key)
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                                                  for v in value) or min(value) < 1):
        raise RegistrationError(f"{path}: {key} must be [width, height] in whole pixels, got {value!r}")
    if value[0] * value[1] > bound('image_pixels'):
        raise RegistrationError(f"{path}: {key} {value} is above the bound of {bound('image_pixels'):,} pixels")
    return value[0], value[1]


def _homography(data: dict, path) -> Optional[np.ndarray]:
    value = data.get('tir_from_rgb')
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(row, list) and len(row) == 3 for row in value)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for row in value for v in row)):
        raise RegistrationError(f"{path}: tir_from_rgb must be a 3x3 list of numbers")
    matrix = np.array(value, dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        raise RegistrationError(f"{path}: tir_from_rgb has a non-finite entry")
    if abs(matrix[2, 2]) < 1e-12:
        raise RegistrationError(f"{path}: tir_from_rgb[2][2] is 0 (the homography must map the origin to a finite point)")
    matrix = matrix / matrix[2, 2]
    condition = np.linalg.cond(matrix)
    if not math.isfinite(condition) or condition > MAX_CONDITION:
        raise RegistrationError(f"{path}: tir_from_rgb is singular or nearly so (condition number {condition:.3g}, "
                                f"bound {MAX_CONDITION:g})")
    return matrix


def _thermal_range(data: dict, path) -> Optional[Tuple[float, float]]:
    value = data.get('thermal_range')
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                  for v in value)
            or not 0 <= value[0] < value[1] <= 65535):
        raise RegistrationError(f"{path}: thermal_range must be [low, high] with 0 <= low < high <= 65535, got {value!r}")
    return float(value[0]), float(value[1])


def read_registration(path) -> Registration:
    """The validated content of a registration.json (RegistrationError naming the file otherwise)."""
    data = read_json_object(path, RegistrationError)
    registration = Registration(str(path), _homography(data, path), _size(data, 'rgb_size', path),
                                _size(data, 'tir_size', path), _thermal_range(data, path))
    if registration.tir_from_rgb is not None and (registration.rgb_size is None or registration.tir_size is None):
        raise RegistrationError(f"{path}: tir_from_rgb needs rgb_size and tir_size (the frame sizes it was made for)")
    return registration


def find_registration(sequence_dir) -> Optional[Registration]:
    """The registration of a sequence: its own registration.json, else its rig's (the folder above);
    None when neither exists."""
    for folder in (str(sequence_dir), os.path.dirname(os.path.abspath(sequence_dir))):
        path = os.path.join(folder, REGISTRATION_FILE)
        if os.path.isfile(path):
            return read_registration(path)
    return None
