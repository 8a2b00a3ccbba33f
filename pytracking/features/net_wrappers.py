"""Finding and loading the tracker's network file."""
import warnings
from pathlib import Path
from typing import Optional, Sequence

import torch

from ltr.admin.environment import checkpoint_dir
from ltr.admin.limits import LimitError, check_limit
from ltr.admin.loading import (CheckpointError, WrongNetworkError, check_network_kind, checkpoint_path, file_sha256,
                               load_network)
from pytracking.evaluation.environment import env_settings


class NetworkFile:
    """A network named by a parameter file.

    Looked up, in order: an explicit path (`--net`: a file or a training checkpoint folder), then
    `<network_path>/<file_name>`, then the latest checkpoint of the training setting in the workspace
    (`<workspace>/checkpoints/ltr/cmd/<training_setting>/`).

    `expected_kind` names the builders this tracker is meant for; a file holding another network
    (a teacher given to cmd_student) is tracked with a warning, since any RGBTDiMPnet tracks.
    """

    def __init__(self, file_name: str, training_setting: Optional[str] = None, path: Optional[str] = None,
                 allow_legacy_pickle: bool = False, expected_kind: Optional[Sequence[str]] = None):
        self.file_name = file_name
        self.training_setting = training_setting
        self.path = path
        self.allow_legacy_pickle = allow_legacy_pickle
        self.expected_kind = expected_kind
        self._net = None
        self._checkpoint = None
        self._prepared = {}
        self._sha256 = None

    def candidates(self):
        env = env_settings()
        if self.path:
            yield Path(self.path)
            return
        yield Path(env.network_path) / self.file_name
        if self.training_setting:
            yield checkpoint_dir(env.workspace_dir, 'cmd', self.training_setting)

    def resolve(self) -> Path:
        tried = []
        for candidate in self.candidates():
            try:
                return checkpoint_path(candidate)
            except FileNotFoundError:
                tried.append(str(candidate))
        train = f"`python ltr/run_training.py cmd {self.training_setting}`" if self.training_setting else 'training'
        raise FileNotFoundError(
            f"network file for {self.file_name} not found (looked at: {', '.join(tried)}). Train it with {train}, "
            f"put the weights at {Path(env_settings().network_path) / self.file_name} (RGBT_NETWORK_PATH), "
            f"or pass --net PATH.")

    def _load(self):
        if self._net is None:
            path = self.resolve()
            self._net, self._checkpoint = load_network(path, allow_legacy_pickle=self.allow_legacy_pickle)
            if self.expected_kind is not None:
                try:
                    check_network_kind(self._checkpoint, path, self.expected_kind,
                                       self.file_name.split('.')[0] + ' network')
                except WrongNetworkError as err:
                    warnings.warn(f"{err}; tracking with it anyway", stacklevel=2)
            self._net.eval()
        return self._net

    def sha256(self) -> str:
        """The network file's SHA-256 (read once): it names and checks the exported graphs."""
        if self._sha256 is None:
            self._sha256 = file_sha256(self.resolve())
        return self._sha256

    def load(self, device) -> torch.nn.Module:
        return self._load().to(device)

    def prepared(self, key, prepare) -> torch.nn.Module:
        """`prepare(network)` (a tracking copy: folded, on a device, compiled) built once per `key`,
        so the sequences of a run share it; the loaded network itself is never changed."""
        if key not in self._prepared:
            self._prepared[key] = prepare(self._load())
        return self._prepared[key]

    def training_crop_size(self) -> Optional[int]:
        """The crop size the network was trained with, when its checkpoint records it (in its
        training configuration; checkpoints written before it existed kept it at the top level)."""
        self._load()
        source = str(self.resolve())
        settings = self._checkpoint.get('settings') or {}
        if not isinstance(settings, dict):
            raise CheckpointError(f"{source}: 'settings' is a {type(settings).__name__}, not a dict")
        config = settings.get('config') or {}
        if not isinstance(config, dict):
            raise CheckpointError(f"{source}: 'settings.config' is a {type(config).__name__}, not a dict")
        size = config.get('output_sz') or settings.get('output_sz')
        if size is None:
            return None
        if isinstance(size, bool) or not isinstance(size, int) or size < 16:
            raise CheckpointError(f"{source}: settings.config.output_sz is {size!r}, not a crop size in pixels")
        try:
            check_limit('output_sz', size, source, 'settings.config.output_sz')
        except LimitError as err:
            raise CheckpointError(str(err)) from None
        return size
