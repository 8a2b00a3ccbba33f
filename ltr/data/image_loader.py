"""Image decoding: jpeg4py (libjpeg-turbo) for JPEGs when it works, OpenCV otherwise.

Frames are returned as HxWx3 uint8 arrays in RGB order; grey images (thermal frames) are
replicated to three channels.
"""
import logging
import os

import cv2
import numpy as np

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


def imread_rgb(path: str) -> np.ndarray:
    """Reads an image as HxWx3 uint8 RGB. Raises FileNotFoundError or ImageReadError naming the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path} does not exist")
    if path.lower().endswith(('.jpg', '.jpeg')):
        module = _jpeg4py_module()
        if module is not None:
            image = _decode_with_jpeg4py(module, path)
            if image is not None:
                return image
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ImageReadError(f"cannot decode image {path} (corrupt or unsupported file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def imwrite_rgb(path: str, image: np.ndarray, jpeg_quality: int = 90) -> None:
    """Writes an HxWx3 RGB uint8 image (JPEG quality for .jpg)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.lower().endswith(('.jpg', '.jpeg')) else []
    if not cv2.imwrite(path, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write image {path}")
