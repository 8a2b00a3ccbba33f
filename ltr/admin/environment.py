"""Local path settings, pytracking style.

`ltr/admin/local.py` (training) and `pytracking/evaluation/local.py` (tracking and evaluation) are
generated with defaults on first use and ignored by git. Every path can be overridden with an
environment variable, which wins over local.py. An empty value means "derived from the
workspace" for workspace folders and "not configured" for data sets; asking for an unconfigured
or missing data set raises an error that names the setting, the file and the variable.
"""
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

from ltr.admin.atomic import atomic_write_text
from ltr.admin.variables import read_variable

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKSPACE = REPO_ROOT / 'workspace'


@dataclass(frozen=True)
class PathSetting:
    """One configurable path.

    Attributes:
        name: attribute name in local.py.
        env_var: environment variable overriding it, or None.
        under_workspace: when the value is empty, use this folder under the workspace (None: a
            data set path that must be configured).
        help: shown in the generated local.py.
    """
    name: str
    env_var: Optional[str]
    under_workspace: Optional[str]
    help: str


class PathSettings:
    """Resolved settings: one attribute per setting, plus where each value came from."""

    def __init__(self, specs: Sequence[PathSetting], values: Dict[str, str], local_file: Path):
        self._specs = {spec.name: spec for spec in specs}
        self._sources = {}
        self.local_file = local_file
        for name, value in values.items():
            setattr(self, name, value)
        # The workspace is resolved first: the empty workspace folders below derive from it.
        workspace = None
        for spec in sorted(specs, key=lambda s: s.name != 'workspace_dir'):
            value = str(values.get(spec.name, '') or '')
            source = f"{spec.name} in {local_file}"
            overridden = read_variable(spec.env_var) if spec.env_var else None
            if overridden:
                value, source = overridden, f"environment variable {spec.env_var}"
            if not value and spec.under_workspace is not None:
                workspace = workspace or str(DEFAULT_WORKSPACE)
                value = os.path.join(workspace, spec.under_workspace) if spec.under_workspace else workspace
                source = f"default under the workspace ({spec.name} empty in {local_file})"
            setattr(self, spec.name, value)
            self._sources[spec.name] = source
            if spec.name == 'workspace_dir':
                workspace = value

    def source(self, name: str) -> str:
        return self._sources.get(name, f"{name} in {self.local_file}")

    def require_dir(self, name: str) -> str:
        """The path of `name`, which must be an existing folder; otherwise an error that says how to set it."""
        spec = self._specs[name]
        value = getattr(self, name)
        how = f"set {name} in {self.local_file}"
        if spec.env_var:
            how += f" or the environment variable {spec.env_var}"
        if not value:
            raise FileNotFoundError(f"{name} is not set: {how}.")
        if not os.path.isdir(value):
            raise FileNotFoundError(f"{name} = '{value}' (from {self.source(name)}) is not an existing folder: {how}.")
        return value


def checkpoint_dir(workspace_dir, module_name: str, script_name: str) -> Path:
    """pytracking's checkpoint folder of a training setting, `<workspace>/checkpoints/ltr/<module>/<script>`
    (e.g. cmd/teacher): the one place that spells it."""
    return Path(workspace_dir) / 'checkpoints' / 'ltr' / module_name / script_name


def write_local_file(path: Path, header: str, specs: Sequence[PathSetting], body_start: str, indent: str,
                     closing: str = '') -> None:
    """Writes a local.py with one line per setting (atomically, so parallel workers never see half a file)."""
    lines = [f'"""{header}', '',
             'Empty strings: workspace folders default to <workspace_dir>/<folder>, data sets are unset.',
             'Environment variables (named beside each setting) override these values."""', '', body_start]
    for spec in specs:
        value = str(DEFAULT_WORKSPACE) if spec.name == 'workspace_dir' else ''
        env = f" [{spec.env_var}]" if spec.env_var else ''
        lines.append(f"{indent}self.{spec.name} = {value!r}  # {spec.help}{env}")
    if closing:
        lines.append(closing)
    atomic_write_text(path, '\n'.join(lines) + '\n')


def import_local(module_name: str, path: Path, generate) -> object:
    """Imports the local settings module, generating it first when it does not exist."""
    if not path.exists():
        generate(path)
        importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except Exception as err:
        # Never overwrite a user's broken local.py: say where it is instead.
        raise RuntimeError(f"Could not import the local settings file {path}: {err}. "
                           f"Fix it, or delete it to regenerate the defaults.") from err


# ---- training settings (ltr/admin/local.py) ----

LTR_SETTINGS = (
    PathSetting('workspace_dir', 'RGBT_WORKSPACE', '', 'checkpoints, logs, generated data'),
    PathSetting('tensorboard_dir', None, 'tensorboard', 'tensorboard logs'),
    PathSetting('pretrained_networks', 'RGBT_NETWORK_PATH', 'networks', 'DiMP checkpoints to initialise from'),
    PathSetting('gtot_dir', 'GTOT_PATH', None, 'GTOT root'),
    PathSetting('rgbt234_dir', 'RGBT234_PATH', None, 'RGBT234 root'),
    PathSetting('rgbt210_dir', 'RGBT210_PATH', None, 'RGBT210 root'),
    PathSetting('lasher_dir', 'LASHER_PATH', None, 'LasHeR root (trainingset/, testingset/)'),
    PathSetting('vtuav_dir', 'VTUAV_PATH', None, 'VTUAV root (test_ST/, test_LT/, train_ST/, train_LT/)'),
    PathSetting('synthetic_dir', 'SYNTHETIC_PATH', 'data/synthetic', 'synthetic RGB-T benchmark'),
)
LTR_LOCAL_FILE = Path(__file__).resolve().parent / 'local.py'


def _generate_ltr_local(path: Path) -> None:
    write_local_file(path, 'Local paths for CMD-RGBT training (generated; edit freely, git ignores it).',
                     LTR_SETTINGS, 'class EnvironmentSettings:\n    def __init__(self):', ' ' * 8)


def env_settings() -> PathSettings:
    """Training path settings from ltr/admin/local.py and the environment."""
    local = import_local('ltr.admin.local', LTR_LOCAL_FILE, _generate_ltr_local)
    return PathSettings(LTR_SETTINGS, vars(local.EnvironmentSettings()), LTR_LOCAL_FILE)
