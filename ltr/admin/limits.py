"""Bounds on every size that comes from a file, checked before anything is allocated.

A checkpoint, an image header or a video header is input like any other: a crop size of 4096
stored in a checkpoint, a builder argument of 10**9 bins, a 20000x15000 PNG of 285 KB or a
compressed checkpoint that expands 1000:1 would otherwise allocate gigabytes before any check.
Each bound below is generous for real use; where a user really means more, the environment
variable `RGBT_MAX_<NAME>` (e.g. `RGBT_MAX_IMAGE_PIXELS=400000000`) raises it.
"""
from typing import Dict, Tuple, Union

from ltr.admin.variables import read_variable

# name -> (bound, what it bounds). docs/reliability.md and the README's trust table list these.
BOUNDS: Dict[str, Tuple[int, str]] = {
    'output_sz': (1024, "crop side in pixels stored in a checkpoint's training settings (DiMP: 288 or 352)"),
    'builder_int': (4096, 'every integer argument of a network builder (bins, filter sizes, feature dims)'),
    'plain_depth': (32, "nesting depth of a checkpoint's plain data (the constructor's arguments)"),
    'checkpoint_bytes': (4 << 30, "a checkpoint's uncompressed size (the teacher with its Adam state: ~1 GB)"),
    'compression_ratio': (20, "uncompressed/compressed size of a checkpoint entry (torch.save stores, "
                              "it does not compress)"),
    'image_pixels': (100_000_000, 'width x height of one image or video frame, read from its header'),
}


class LimitError(ValueError):
    """A size read from a file exceeds its bound; the message names the file, the field, the value
    and the bound, and how to raise it."""


def bound(name: str) -> int:
    """The bound `name`, or its RGBT_MAX_<NAME> override (a positive integer)."""
    default, _ = BOUNDS[name]
    variable = f"RGBT_MAX_{name.upper()}"
    text = read_variable(variable)
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value <= 0:
        raise LimitError(f"{variable}={text!r} is not a positive integer")
    return value


def check_limit(name: str, value: Union[int, float], source: str, field: str = '') -> None:
    """Raises LimitError when `value` (from `source`, at `field`) exceeds the bound `name`."""
    limit = bound(name)
    if value > limit:
        where = f"{source}: {field or name}"
        raise LimitError(f"{where} is {value:,}, above the bound of {limit:,} ({BOUNDS[name][1]}); "
                         f"if you really mean it, raise the bound with RGBT_MAX_{name.upper()}")
