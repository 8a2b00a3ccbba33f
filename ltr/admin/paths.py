"""Names read from files become parts of output paths only as plain names inside their folder.

A list file, an annotation folder or a results folder is input: a line such as `/elsewhere/seq` or
`../../seq` must not make a tool write outside the folder it writes to, and no tool may write
over a file it reads. These two rules live here; every reader and writer calls them.
"""
import os
from pathlib import Path
from typing import Iterable, Optional, Union

PathLike = Union[str, os.PathLike]


class UnsafeNameError(ValueError):
    """A name read from a file is not a plain file name (a path separator, '..', absolute, empty)."""


class OverwriteError(FileExistsError):
    """An output would replace one of the tool's inputs, or an existing file without --overwrite."""


def plain_name(name: str, source: str = 'name') -> str:
    """`name` when it is a plain file or folder name; UnsafeNameError naming `source` otherwise."""
    reason = None
    if not isinstance(name, str) or not name:
        reason = 'is empty'
    elif name in ('.', '..'):
        reason = 'is a relative folder reference'
    elif os.path.isabs(name) or name.startswith('\\') or (len(name) > 1 and name[1] == ':'):
        reason = 'is an absolute path'
    elif '/' in name or '\\' in name or (os.sep in name) or (os.altsep and os.altsep in name):
        reason = 'contains a path separator'
    elif '\x00' in name:
        reason = 'contains a NUL character'
    if reason:
        raise UnsafeNameError(f"{source}: {name!r} {reason}; a sequence or result name must be a plain name "
                              f"(no folders)")
    return name


def child_path(folder: PathLike, file_name: str, source: str = 'name') -> Path:
    """`folder / file_name`, checked to be a plain name that resolves inside `folder` (a symbolic link
    already in the folder that points elsewhere is refused too)."""
    folder = Path(folder)
    path = folder / plain_name(file_name, source)
    resolved_folder = folder.resolve()
    if not path.resolve().is_relative_to(resolved_folder):
        raise UnsafeNameError(f"{source}: {path} resolves to {path.resolve()}, outside {resolved_folder}")
    return path


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when `a` and `b` are the same file (hard links and symbolic links included) or the same path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def check_output(output: PathLike, inputs: Iterable[Optional[PathLike]], overwrite: bool = False,
                 what: str = 'output') -> Path:
    """Refuses an output that is one of `inputs` (always), a folder, or an existing file (unless
    `overwrite`); returns it as a Path."""
    output = Path(output)
    for source in inputs:
        if source is not None and same_file(output, source):
            raise OverwriteError(f"{what} {output} is the input {source}: refusing to overwrite it")
    if output.is_dir():
        raise OverwriteError(f"{what} {output} is a folder; give a file name")
    if output.exists() and not overwrite:
        raise OverwriteError(f"{what} {output} exists; pass --overwrite to replace it, or choose another name")
    return output
