"""Saving and loading networks in pytracking's checkpoint format.

A checkpoint is a dict with at least `net` (state_dict) and `constructor` (plain data, see
ltr.admin.model_constructor). Loading uses ``torch.load(weights_only=True)``, which executes no
code from the file. Legacy pytracking checkpoints (the published dimp18.pth / dimp50.pth) pickle
Python objects; reading them runs the pickle machinery and therefore needs the explicit opt-in
``allow_legacy_pickle=True``.
"""
import hashlib
import importlib
import logging
import pickle
import re
import zipfile
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ltr.admin.atomic import atomic_write
from ltr.admin.limits import LimitError, check_limit
from ltr.admin.model_constructor import NetConstructor, UntrustedConstructorError

_logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIX = '.pth.tar'
_ZIP_MAGIC = b'PK\x03\x04'        # torch.save's default (zip) format
_PICKLE_PROTOCOL = 0x80          # first byte of torch.save's legacy format (a pickle, protocol >= 2)


class CheckpointError(RuntimeError):
    """A file that cannot be used as the checkpoint asked for; the message names the file and why."""


class WrongNetworkError(CheckpointError):
    """A valid network checkpoint of another kind than the one expected (e.g. a student as teacher)."""



def file_sha256(path: Union[str, Path]) -> str:
    """The SHA-256 of a file (a network's identity in results folders and exported graphs)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()

def checkpoint_path(network_dir: Union[str, Path], checkpoint: Union[None, int, str] = None) -> Path:
    """Resolves pytracking's ways to name a checkpoint.

    Args:
        network_dir: a checkpoint file, or a folder of `<Net>_ep%04d.pth.tar` files.
        checkpoint: None (the file itself, or the folder's latest epoch), an epoch number, or a path.
    """
    if isinstance(checkpoint, (str, Path)):
        path = Path(checkpoint)
        if not path.is_absolute() and network_dir is not None:
            path = Path(network_dir) / path
    else:
        path = Path(network_dir)
        if path.is_dir():
            path = latest_epoch_file(path, checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"Network file {path} does not exist")
    return path


EPOCH_FILE = re.compile(r'^(?P<net>.+)_ep(?P<epoch>\d+)\.pth\.tar$')     # pytracking's <Net>_ep%04d.pth.tar


def latest_epoch_file(folder: Path, epoch: Optional[int] = None) -> Path:
    """The checkpoint of `folder` with the highest epoch number in pytracking's file pattern (or epoch
    `epoch`); other files there (a `backup.pth.tar`) are never picked by name order. Logs the choice."""
    epochs = {}
    for candidate in folder.glob('*.pth.tar'):
        match = EPOCH_FILE.match(candidate.name)
        if match:
            epochs.setdefault(int(match['epoch']), []).append(candidate)
    if epoch is not None:
        epochs = {e: files for e, files in epochs.items() if e == int(epoch)}
    if not epochs:
        wanted = f"epoch {int(epoch)} (*_ep{int(epoch):04d}.pth.tar)" if epoch is not None else 'any epoch'
        raise FileNotFoundError(f"No checkpoint <Net>_epNNNN.pth.tar of {wanted} in {folder}")
    latest = max(epochs)
    if len(epochs[latest]) > 1:
        raise FileNotFoundError(f"{folder} has several checkpoints of epoch {latest}: "
                                f"{', '.join(sorted(p.name for p in epochs[latest]))}; pass the file itself")
    _logger.info("network %s (the latest epoch in %s)", epochs[latest][0].name, folder)
    return epochs[latest][0]


def save_checkpoint(state: dict, path: Union[str, Path]) -> Path:
    """Writes `state` with torch.save to a temporary file, then renames it (never a half-written file)."""
    with atomic_write(path, 'wb') as handle:
        torch.save(state, handle)
    return Path(path)


def save_network(net: nn.Module, path: Union[str, Path], **extra) -> Path:
    """Saves a tracking network file: `net` state_dict, its `constructor` as plain data, `net_type`."""
    state = {'net': net.state_dict(), 'net_type': type(net).__name__}
    constructor = getattr(net, 'constructor', None)
    if constructor is not None:
        state['constructor'] = constructor.to_dict()
    state.update(extra)
    return save_checkpoint(state, path)


class _LegacyUnpickler(pickle.Unpickler):
    """Maps pytracking's old module names to ours and stubs out classes that no longer exist."""

    def find_class(self, module: str, name: str):
        if module.startswith('dlframework'):
            module = 'ltr' + module[len('dlframework'):]
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            # Only the state_dict and the constructor's plain attributes are used afterwards.
            _logger.warning("legacy checkpoint: %s.%s not found, loading it as a placeholder", module, name)
            return type(name, (_Placeholder,), {'__module__': module})


class _Placeholder:
    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)


class _LegacyPickleModule:
    Unpickler = _LegacyUnpickler
    load = pickle.load
    __name__ = 'legacy_pickle'


def check_checkpoint_container(path: Union[str, Path]) -> None:
    """Raises CheckpointError when `path` cannot be a torch.save file: empty, truncated zip, or
    something else altogether (text, an image), saying what it looks like."""
    path = Path(path)
    with open(path, 'rb') as handle:
        head = handle.read(64)
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint (an interrupted copy or save?)")
    if head.startswith(_ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is a truncated or damaged checkpoint: its zip directory is missing "
                                  f"({path.stat().st_size} bytes; an interrupted copy or save?)")
        try:
            check_expanded_size(path)
        except LimitError as err:
            raise CheckpointError(str(err)) from None
        return
    if head[0] == _PICKLE_PROTOCOL:
        return
    looks_like = 'a text file' if _is_text(head) else 'binary data of an unknown kind'
    raise CheckpointError(f"{path} is not a PyTorch checkpoint: it is {looks_like} (begins with {head[:16]!r})")


def check_expanded_size(path: Path) -> None:
    """Bounds what loading a zip checkpoint allocates, from its directory and before any entry is read:
    the uncompressed total (`checkpoint_bytes`) and each entry's compression ratio (torch.save stores
    entries uncompressed, so a highly compressed entry is a crafted file)."""
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
    check_limit('checkpoint_bytes', sum(e.file_size for e in entries), str(path), 'uncompressed size (bytes)')
    for entry in entries:
        if entry.compress_type != zipfile.ZIP_STORED and entry.file_size > 1 << 20:
            check_limit('compression_ratio', entry.file_size // max(entry.compress_size, 1), str(path),
                        f"entry {entry.filename} compression ratio")


def _is_text(head: bytes) -> bool:
    try:
        head.decode('utf-8')
    except UnicodeDecodeError:
        return head.startswith((b'\xff\xfe', b'\xfe\xff'))         # UTF-16 with a byte-order mark
    return True


def load_checkpoint_file(path: Union[str, Path], allow_legacy_pickle: bool = False,
                         map_location='cpu') -> dict:
    """Loads a checkpoint dict; pickled objects need `allow_legacy_pickle=True`.

    Raises CheckpointError naming the file when it is empty, truncated, not a torch.save file, or
    does not hold a dict."""
    check_checkpoint_container(path)
    try:
        checkpoint = _torch_load(path, map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if not allow_legacy_pickle:
            raise CheckpointError(
                f"{path} contains pickled Python objects (a legacy pytracking checkpoint?). Loading it can "
                f"execute code from the file; if you trust it, pass allow_legacy_pickle=True "
                f"(tracker parameter `allow_legacy_pickle`).") from err
        _logger.warning("loading %s with the legacy pickle loader (allow_legacy_pickle=True)", path)
        checkpoint = _torch_load(path, map_location, damaged=_DAMAGED + (pickle.UnpicklingError,),
                                 weights_only=False, pickle_module=_LegacyPickleModule)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    return checkpoint


_DAMAGED = (RuntimeError, EOFError, OSError)     # what torch.load raises on a file it cannot read


def _torch_load(path, map_location, damaged=_DAMAGED, **load_kwargs):
    """torch.load, with the errors of a damaged file (`damaged`) turned into a CheckpointError."""
    try:
        return torch.load(path, map_location=map_location, **load_kwargs)
    except damaged as err:
        raise CheckpointError(f"{path} is a damaged checkpoint and cannot be read: {err}") from err


def constructor_of(checkpoint: dict) -> Optional[NetConstructor]:
    """The checkpoint's constructor, from plain data or from a legacy pickled object."""
    data = checkpoint.get('constructor')
    if data is None:
        return None
    if isinstance(data, dict):
        return NetConstructor.from_dict(data)
    if not hasattr(data, 'fun_name'):
        raise UntrustedConstructorError(f"'constructor' is a {type(data).__name__}, not a constructor record")
    return NetConstructor(data.fun_name, data.fun_module, getattr(data, 'args', ()), getattr(data, 'kwds', {}))


def network_kind(checkpoint: dict) -> str:
    """What a checkpoint holds, by its builder's name (e.g. 'cmd_student'), or its net_type."""
    constructor = checkpoint.get('constructor')
    name = constructor.get('fun_name') if isinstance(constructor, dict) else getattr(constructor, 'fun_name', None)
    return str(name or checkpoint.get('net_type') or 'unknown')


def check_network_kind(checkpoint: dict, path: Union[str, Path], expected: Sequence[str], role: str) -> None:
    """Raises WrongNetworkError when the checkpoint's builder is not one of `expected` (builder names)."""
    kind = network_kind(checkpoint)
    if kind not in expected:
        raise WrongNetworkError(f"{path} holds a {kind} network, not a {role} ({' or '.join(expected)})")


def load_network(network_dir: Union[str, Path], checkpoint: Union[None, int, str] = None,
                 allow_legacy_pickle: bool = False, expected_kind: Optional[Sequence[str]] = None,
                 role: str = 'network', **kwargs) -> Tuple[nn.Module, dict]:
    """Rebuilds a network from its checkpoint and loads its weights strictly.

    Args:
        network_dir, checkpoint: see :func:`checkpoint_path`.
        allow_legacy_pickle: allow checkpoints holding pickled objects (pytracking's own files).
        expected_kind: builder names the file must hold (WrongNetworkError otherwise, raised before any
            network is built); `role` names the use in that message (e.g. 'teacher').
        kwargs: override the stored constructor arguments (`backbone_pretrained` is always False:
            the checkpoint holds the weights).
    Returns:
        (net, checkpoint dict).
    Raises:
        CheckpointError: the file is not a network checkpoint, is damaged, holds another kind of
            network, or names a constructor outside this package's network builders.
    """
    path = checkpoint_path(network_dir, checkpoint)
    checkpoint_dict = load_checkpoint_file(path, allow_legacy_pickle=allow_legacy_pickle)
    try:
        constructor = constructor_of(checkpoint_dict)
    except UntrustedConstructorError as err:
        raise CheckpointError(f"{path}: {err}") from None
    if constructor is None or 'net' not in checkpoint_dict:
        raise CheckpointError(f"{path} has no 'constructor' and 'net' entries: it is not a network checkpoint "
                              f"(keys: {sorted(map(str, checkpoint_dict))[:8]})")
    state = checkpoint_dict['net']
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'net' is a {type(state).__name__}, not a state_dict of tensors")
    if expected_kind is not None:
        check_network_kind(checkpoint_dict, path, expected_kind, role)
    kwargs.setdefault('backbone_pretrained', False)
    # Built first on the meta device (no memory), so that arguments the weights do not fit are
    # refused before anything is allocated; then for real.
    with torch.device('meta'):
        skeleton = _build(constructor, path, kwargs)
    check_weights(skeleton.state_dict(), state, path)
    net = _build(constructor, path, kwargs)
    net.load_state_dict(state)
    net.constructor = constructor
    net.constructor.kwds.update(kwargs)
    return net, checkpoint_dict


def _build(constructor: NetConstructor, path: Path, kwargs) -> nn.Module:
    """The network of `constructor`; CheckpointError naming the file when its arguments are refused
    or do not build (a wrong type or value)."""
    try:
        return constructor.get(**kwargs)
    except UntrustedConstructorError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (TypeError, ValueError, RuntimeError, AttributeError, KeyError) as err:
        raise CheckpointError(f"{path}: the stored constructor {constructor.fun_name} does not build a network "
                              f"({type(err).__name__}: {err})") from None


def check_weights(expected: dict, state: dict, path: Path) -> None:
    """Refuses a state_dict that does not fit the network (missing, unexpected or mis-shaped tensors),
    holds integers where the network has floats (it would load as a network of zeros), or holds NaN
    or Inf (every frame would track as the first box); the error names the file and the first bad tensor."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(f"{path}: the weights do not fit the stored constructor (missing "
                              f"{missing[:3]}, unexpected {unexpected[:3]})")
    for key, reference in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != tuple(reference.shape):
            raise CheckpointError(f"{path}: weight {key} has shape {tuple(tensor.shape)}, the network "
                                  f"expects {tuple(reference.shape)}")
        if reference.is_floating_point() and not tensor.is_floating_point():
            raise CheckpointError(f"{path}: weight {key} holds {tensor.dtype} values, not floating point")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path}: weight {key} holds non-finite values (NaN or Inf): the "
                                  f"network is broken (a diverged training run?)")
