"""Atomic file writing: the one place where results, checkpoints and settings files are written."""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

import numpy as np


@contextlib.contextmanager
def atomic_write(path: Union[str, os.PathLike], mode: str = 'w', **open_kwargs) -> Iterator[IO]:
    """Opens a temporary file beside `path` for writing and, when the block finishes, renames it over
    `path`: readers (parallel workers, a resumed run) see the old file or the whole new one, never half
    of one. On an error or an interruption the temporary file is removed and `path` is untouched.

        with atomic_write(results / 'seq.txt') as handle:
            np.savetxt(handle, boxes)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f"{path.name}.", suffix='.tmp',
                                         delete=False, **open_kwargs)
    try:
        with handle:
            yield handle
        _chmod_as_umask(handle.name)
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise


def atomic_write_text(path: Union[str, os.PathLike], text: str, **open_kwargs) -> None:
    with atomic_write(path, 'w', **open_kwargs) as handle:
        handle.write(text)


def atomic_savetxt(path: Union[str, os.PathLike], values, fmt: str, delimiter: str = '\t') -> None:
    """numpy.savetxt, atomically (result and box files)."""
    with atomic_write(path) as handle:
        np.savetxt(handle, values, fmt=fmt, delimiter=delimiter)


def atomic_savefig(fig, path: Union[str, os.PathLike], **savefig_kwargs) -> None:
    """A matplotlib figure written atomically (its format from the file's extension): an interrupted
    plot run leaves the old file or none, never a truncated PDF."""
    path = Path(path)
    with atomic_write(path, 'wb') as handle:
        fig.savefig(handle, format=path.suffix.lstrip('.') or 'png', **savefig_kwargs)


def _chmod_as_umask(path: str) -> None:
    """Temporary files are created 0600; give the final file the usual permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
