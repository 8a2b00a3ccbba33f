"""Image decoding: jpeg4py (libjpeg-turbo) for JPEGs when it works, OpenCV otherwise.

Frames are returned as HxWx3 uint8 arrays in RGB order; grey images (thermal frames) are
replicated to three channels.

A truncated JPEG or PNG is an ImageReadError naming the file, whichever decoder is in use: both
libjpeg-turbo and OpenCV decode a cut-off JPEG with a grey bottom and only print a warning, so the
end-of-image marker is checked before decoding (a few bytes read from the file's tail).
"""
import logging
import os
import warnings

import cv2
import numpy as np

from ltr.admin.limits import LimitError, bound, check_limit

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
            import jpeg4py
            jpeg4py.JPEG  # noqa: B018  (touching the class loads libturbojpeg)
            _jpeg4py = jpeg4py
        except Exception as err:  # ImportError, or OSError when libturbojpeg is absent
            _logger.info("jpeg4py unavailable (%s); decoding JPEGs with OpenCV", err)
    return _jpeg4py


# Where a complete file ends: JPEG's end-of-image marker, PNG's IEND chunk type. Encoders may pad a
# few bytes after it, so the marker is searched in the file's tail.
_END_MARKERS = {('.jpg', '.jpeg'): b'\xff\xd9', ('.png',): b'IEND'}
_TAIL_BYTES = 4096


def check_complete(path: str) -> None:
    """Raises ImageReadError when a JPEG or PNG file lacks its end marker (a truncated file)."""
    lower = path.lower()
    for suffixes, marker in _END_MARKERS.items():
        if lower.endswith(suffixes):
            with open(path, 'rb') as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(size - _TAIL_BYTES, 0))
                tail = handle.read()
            if marker not in tail:
                raise ImageReadError(f"image {path} is truncated or corrupt ({size} bytes, no end-of-image "
                                     f"marker): re-extract or re-download it")
            return


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


def check_header(path: str) -> None:
    """Reads the image's header (not its pixels) and refuses a width x height above the
    `image_pixels` bound (ltr.admin.limits) before anything is decoded: a 285 KB PNG can declare
    20000x15000 pixels. Warns once per folder about 16-bit images (decoded to 8 bits by dropping the
    low byte, which leaves a radiometric thermal frame with a few grey levels)."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as image:
                (width, height), mode = image.size, image.mode
    except Image.DecompressionBombError:
        raise ImageReadError(f"image {path}: its header declares more than {Image.MAX_IMAGE_PIXELS * 2:,} pixels, above "
                         f"the bound of {bound('image_pixels'):,} (RGBT_MAX_IMAGE_PIXELS raises it)") from None
    except (OSError, SyntaxError, ValueError):
        return          # a header PIL does not know: the decoder below decides
    try:
        check_limit('image_pixels', width * height, f"image {path}", f"width x height ({width}x{height})")
    except LimitError as err:
        raise ImageReadError(str(err)) from None
    if mode.startswith('I;16') or mode == 'I':
        folder = os.path.dirname(path)
        if folder not in _warned_16bit:
            _warned_16bit.add(folder)
            _logger.warning("%s is a 16-bit image: it is decoded to 8 bits by dropping the low byte, which can "
                            "leave a radiometric thermal frame with a few grey levels (other frames of %s too)",
                            path, folder)


_warned_16bit = set()


def imread_rgb(path: str) -> np.ndarray:
    """Reads an image as HxWx3 uint8 RGB, pixels as stored (EXIF orientation is ignored by both
    decoders: benchmark boxes are in stored pixel coordinates). Raises FileNotFoundError,
    ImageReadError (corrupt, truncated, or more pixels than the bound), naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path} does not exist")
    check_complete(path)
    check_header(path)
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
        tir = cv2.resize(tir, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb, tir
