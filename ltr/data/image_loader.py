"""Image decoding: jpeg4py (libjpeg-turbo) for JPEGs when it works, OpenCV otherwise.

Frames are returned as HxWx3 uint8 arrays in RGB order; grey images (thermal frames) are
replicated to three channels.

A truncated JPEG or PNG is an ImageReadError naming the file, whichever decoder is in use: both
libjpeg-turbo and OpenCV decode a cut-off JPEG with a grey bottom and only print a warning, so the
end-of-image marker is checked before decoding (a few bytes read from the file's tail).

16-bit frames (radiometric thermal cameras write 16-bit PNG or TIFF) are read as 16 bits and mapped
to 0..255 by one policy, for training, tracking and video folders alike (`thermal_range`): the
range given by `--thermal-range LOW,HIGH` (the commands set RGBT_THERMAL_RANGE, so that loader
workers see it too) when there is one, else the `thermal_range` [low, high] of a `registration.json`
beside the frame's folder (the sequence's, or the rig's one level up) when it gives one, else the
1st and 99th percentiles of the first frame of the frame's folder (the sequence's first frame, so
every frame of a sequence is mapped alike); values outside the range are clipped. The range used
is logged once per folder.
"""
import argparse
import functools
import logging
import os
import re
import warnings
from typing import Tuple

import cv2
import numpy as np

from ltr.admin.limits import LimitError, bound, check_limit
from ltr.admin.variables import read_variable, set_variable
from ltr.data.registration import RegistrationError, find_registration

_logger = logging.getLogger(__name__)
_jpeg4py = None
_jpeg4py_checked = False


class ImageReadError(OSError):
    """An image that exists but cannot be decoded."""


def _jpeg4py_module():
    """jpeg4py, or None when it or the system libturbojpeg is missing (checked once)."""
    global _jpeg4py, _jpeg4py_checked
    if not _jpeg4py_checked:
        _jpeg4py_checked = True
        try:
            import jpeg4py  # optional fast decoder (libturbojpeg); OpenCV otherwise
            jpeg4py.JPEG  # noqa: B018  (touching the class loads libturbojpeg)
            _jpeg4py = jpeg4py
        except Exception as err:  # ImportError, or OSError when libturbojpeg is absent
            _logger.info("jpeg4py unavailable (%s); decoding JPEGs with OpenCV", err)
    return _jpeg4py


# Where a complete file ends: JPEG's end-of-image marker, PNG's IEND chunk type. Encoders may pad a
# few bytes after it, so the marker is searched in the file's tail first; cameras and editors may
# append more (a second image, metadata), so the rest of the file is searched before refusing it.
_END_MARKERS = {('.jpg', '.jpeg'): b'\xff\xd9', ('.png',): b'IEND'}
_TAIL_BYTES = 4096
_CHUNK_BYTES = 1 << 20


def check_complete(path: str) -> None:
    """Raises ImageReadError when a JPEG or PNG file lacks its end marker (a truncated file). Data
    after the marker is allowed (the decoders stop at the marker)."""
    lower = path.lower()
    for suffixes, marker in _END_MARKERS.items():
        if lower.endswith(suffixes):
            with open(path, 'rb') as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(size - _TAIL_BYTES, 0))
                if marker in handle.read() or _contains(handle, marker):
                    return
            raise ImageReadError(f"image {path} is truncated or corrupt ({size} bytes, no end-of-image "
                                 f"marker): re-extract or re-download it")


def _contains(handle, marker: bytes) -> bool:
    """Whether the file holds `marker` anywhere, read in chunks (overlapping by the marker's length)."""
    handle.seek(0)
    previous = b''
    while True:
        chunk = handle.read(_CHUNK_BYTES)
        if not chunk:
            return False
        if marker in previous[-len(marker) + 1:] + chunk:
            return True
        previous = chunk


def _to_rgb3(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def _decode_with_jpeg4py(module, path: str):
    try:
        return _to_rgb3(module.JPEG(path).decode())
    except Exception as err:
        # A file libjpeg-turbo rejects may still decode with OpenCV; if not, OpenCV's error is raised.
        _logger.debug("jpeg4py failed on %s (%s); trying OpenCV", path, err)
        return None


def check_header(path: str) -> bool:
    """Reads the image's header (not its pixels) and refuses a width x height above the
    `image_pixels` bound (ltr.admin.limits) before anything is decoded: a 285 KB PNG can declare
    20000x15000 pixels. Returns whether the image is a 16-bit grey image."""
    from PIL import Image  # deferred: only for images OpenCV cannot read
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as image:
                (width, height), mode = image.size, image.mode
    except Image.DecompressionBombError:
        raise ImageReadError(f"image {path}: its header declares more than {Image.MAX_IMAGE_PIXELS * 2:,} pixels, above "
                         f"the bound of {bound('image_pixels'):,} (RGBT_MAX_IMAGE_PIXELS raises it)") from None
    except (OSError, SyntaxError, ValueError):
        return False    # a header PIL does not know: the decoder below decides
    try:
        check_limit('image_pixels', width * height, f"image {path}", f"width x height ({width}x{height})")
    except LimitError as err:
        raise ImageReadError(str(err)) from None
    return mode.startswith('I;16') or mode == 'I'


# ---- 16-bit thermal frames ----------------------------------------------------------------------

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')
THERMAL_PERCENTILES = (1.0, 99.0)       # our choice: robust to a few hot or dead pixels


def natural_key(name: str):
    """'img10' after 'img9': digits compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', name)]


def list_frames(folder) -> list:
    """Image files of a folder in natural numeric order (LasHeR's names are irregular). The last few
    listings are kept while the folder is unchanged (same modification time): a reader that counts
    a sequence's frames and then pairs them (VTUAV) lists the folder once."""
    return list(_listed_frames(str(folder), os.stat(folder).st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _listed_frames(folder: str, modified_ns: int) -> tuple:
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)]
    return tuple(os.path.join(folder, n) for n in sorted(names, key=natural_key))


def _decode_16bit(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.size == 0:
        raise ImageReadError(f"cannot decode image {path} (corrupt or unsupported file)")
    if image.dtype != np.uint16:
        raise ImageReadError(f"image {path}: its header says 16-bit but it decodes as {image.dtype}")
    return image if image.ndim == 2 else image[:, :, 0]


def _fixed_thermal_range(folder: str):
    """(low, high) from the registration.json of the frame folder's sequence (or its rig), with the
    file it came from; None when there is none or it gives no thermal_range."""
    try:
        registration = find_registration(os.path.dirname(folder))
    except RegistrationError as err:
        raise ImageReadError(str(err)) from None
    if registration is None or registration.thermal_range is None:
        return None
    return registration.thermal_range, registration.path


THERMAL_RANGE_VARIABLE = 'RGBT_THERMAL_RANGE'


def parse_thermal_range(text: str, where: str = THERMAL_RANGE_VARIABLE) -> Tuple[float, float]:
    """'LOW,HIGH' -> (low, high) raw 16-bit values, 0 <= low < high <= 65535; ValueError naming `where`."""
    parts = text.split(',')
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise ValueError(f"{where}: expected LOW,HIGH (raw 16-bit values, e.g. 20000,24000), got {text!r}") from None
    if not (0 <= low < high <= 65535):
        raise ValueError(f"{where}: need 0 <= LOW < HIGH <= 65535, got {text!r}")
    return low, high


def add_thermal_range_argument(parser) -> None:
    """--thermal-range LOW,HIGH for a command that reads frames (apply it with set_thermal_range)."""
    def checked(text):
        try:
            parse_thermal_range(text, 'LOW,HIGH')
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return text
    parser.add_argument('--thermal-range', type=checked, default=None, metavar='LOW,HIGH',
                        help="raw range of 16-bit thermal frames mapped to 0..255 (default: registration.json's "
                             "thermal_range, else each sequence's first-frame percentiles)")


def set_thermal_range(text: str) -> Tuple[float, float]:
    """The --thermal-range flag: checks 'LOW,HIGH' and makes it the range of every 16-bit thermal
    frame this process and its workers read."""
    value = parse_thermal_range(text, '--thermal-range')
    set_variable(THERMAL_RANGE_VARIABLE, text)
    thermal_range.cache_clear()
    return value


def _flag_thermal_range():
    text = read_variable(THERMAL_RANGE_VARIABLE)
    return None if text is None else (parse_thermal_range(text), '--thermal-range / ' + THERMAL_RANGE_VARIABLE)


@functools.lru_cache(maxsize=64)
def thermal_range(folder: str) -> tuple:
    """(low, high) raw values mapped to 0 and 255 for the 16-bit frames of `folder` (see the module
    docstring: --thermal-range, else registration.json's `thermal_range`, else the first frame's
    percentiles)."""
    fixed = _flag_thermal_range() or _fixed_thermal_range(folder)
    if fixed is not None:
        (low, high), source = fixed
    else:
        frames = list_frames(folder)
        source = frames[0]
        low, high = (float(v) for v in np.percentile(_decode_16bit(source), THERMAL_PERCENTILES))
        if high <= low:                 # a flat first frame: its value sits mid-range
            low, high = low - 128.0, low + 128.0
    _logger.info("16-bit frames of %s mapped to 0..255 from the range %g..%g (%s)", folder, low, high,
                 source if fixed else f"percentiles {THERMAL_PERCENTILES} of {os.path.basename(source)}")
    return low, high


def map_to_8bit(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Raw 16-bit values -> uint8: low -> 0, high -> 255, linear in between, clipped outside."""
    scaled = (image.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def read_16bit_frame(path: str) -> np.ndarray:
    """A 16-bit grey frame as HxWx3 uint8 by the folder's thermal range."""
    low, high = thermal_range(os.path.dirname(os.path.abspath(path)))
    return _to_rgb3(map_to_8bit(_decode_16bit(path), low, high))


def imread_rgb(path: str) -> np.ndarray:
    """Reads an image as HxWx3 uint8 RGB, pixels as stored (EXIF orientation is ignored by both
    decoders: benchmark boxes are in stored pixel coordinates). Raises FileNotFoundError,
    ImageReadError (corrupt, truncated, or more pixels than the bound), naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path} does not exist")
    check_complete(path)
    if check_header(path):
        return read_16bit_frame(path)
    if path.lower().endswith(('.jpg', '.jpeg')):
        module = _jpeg4py_module()
        if module is not None:
            image = _decode_with_jpeg4py(module, path)
            if image is not None:
                return image
    image = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.size == 0:
        raise ImageReadError(f"cannot decode image {path} (corrupt or unsupported file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def imwrite_rgb(path: str, image: np.ndarray, jpeg_quality: int = 90) -> None:
    """Writes an HxWx3 RGB uint8 image (JPEG quality for .jpg)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.lower().endswith(('.jpg', '.jpeg')) else []
    if not cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write image {path}")


def read_frame_pair(rgb_path: str, tir_path: str, resize_tir: bool = False, imread=None):
    """Reads an (rgb, tir) frame pair, both HxWx3 uint8 RGB, and enforces one size for both.

    The crop geometry is drawn once for both modalities, so frames of different sizes would be
    cropped at different places of the scene. Policy (tracking, training and run_video alike): a
    size mismatch is an ImageReadError naming both files, unless `resize_tir` is set (for rigs whose
    cameras are calibrated to the same field of view at different resolutions), in which case the
    thermal frame is resized to the RGB frame's size. `imread` replaces imread_rgb (e.g. a cache).
    """
    imread = imread or imread_rgb
    return match_sizes(imread(rgb_path), imread(tir_path), rgb_path, tir_path, resize_tir)


def match_sizes(rgb, tir, rgb_path, tir_path, resize_tir: bool):
    """The size rule of read_frame_pair for frames already decoded (paths name them in the error)."""
    if rgb.shape[:2] != tir.shape[:2]:
        if not resize_tir:
            raise ImageReadError(
                f"RGB frame {rgb_path} is {rgb.shape[1]}x{rgb.shape[0]} but thermal frame {tir_path} is "
                f"{tir.shape[1]}x{tir.shape[0]}; register the frames, or set resize_tir to resize thermal "
                f"frames to the RGB size")
        _report_stretch(os.path.dirname(os.path.abspath(str(tir_path))), tir.shape[1], tir.shape[0],
                        rgb.shape[1], rgb.shape[0])
        tir = cv2.resize(tir, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb, tir


@functools.lru_cache(maxsize=256)
def _report_stretch(folder: str, tir_width: int, tir_height: int, rgb_width: int, rgb_height: int) -> None:
    """Says once per thermal folder and size that its frames are stretched, not registered."""
    _logger.warning("thermal frames of %s (%dx%d) are stretched to the RGB size %dx%d (resize_tir): wrong "
                    "when the cameras' fields of view differ; a registration.json warps them instead "
                    "(docs/real_world.md)", folder, tir_width, tir_height, rgb_width, rgb_height)
