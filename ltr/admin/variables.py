"""Every environment variable the package reads, in one table, and the one function that reads them.

A variable feeds a setting; nothing else in the package reads os.environ (tests/test_variables.py
checks it). docs/usage.md, "Environment variables", lists this table.
"""
import os
from dataclasses import dataclass
from typing import Dict, Optional


@dataclass(frozen=True)
class Variable:
    name: str
    feeds: str          # the setting or field it sets
    default: str        # what applies when it is unset


def _table(*rows) -> Dict[str, Variable]:
    return {row[0]: Variable(*row) for row in rows}


VARIABLES: Dict[str, Variable] = _table(
    ('RGBT_WORKSPACE', 'workspace_dir (ltr/admin/local.py, pytracking/evaluation/local.py)', '<checkout>/workspace'),
    ('GTOT_PATH', 'gtot_dir / gtot_path', 'not configured'),
    ('RGBT234_PATH', 'rgbt234_dir / rgbt234_path', 'not configured'),
    ('RGBT210_PATH', 'rgbt210_dir / rgbt210_path', 'not configured'),
    ('LASHER_PATH', 'lasher_dir / lasher_path', 'not configured'),
    ('VTUAV_PATH', 'vtuav_dir / vtuav_path', 'not configured'),
    ('SYNTHETIC_PATH', 'synthetic_dir / synthetic_path', '<workspace>/data/synthetic'),
    ('RGBT_NETWORK_PATH', 'network_path, pretrained_networks', '<workspace>/networks'),
    ('RGBT_RESULTS_PATH', 'results_path', '<workspace>/tracking_results'),
    ('CMD_PROFILE', 'the training profile (TrainConfig instance; --profile wins)', 'dimp_lasher'),
    ('CMD_TEACHER', 'TrainConfig.teacher of distillation settings (--teacher wins)',
     'the latest <workspace>/checkpoints/ltr/cmd/teacher checkpoint'),
    ('OMP_NUM_THREADS', 'torch threads of training and tracking (TrainConfig.threads, the tracker parameter '
                        'threads and --threads win)', 'the CPUs this process may use'),
    ('OMP_WAIT_POLICY', "OpenMP's wait policy (read by OpenMP itself; the package sets PASSIVE when unset)", 'PASSIVE'),
    ('RGBT_THERMAL_RANGE', "the raw range LOW,HIGH of 16-bit thermal frames mapped to 0..255 (set by --thermal-range; "
                           "wins over registration.json's thermal_range)", "registration.json, else the first frame's percentiles"),
    ('RGBT_MAX_<NAME>', 'raises the bound <name> of ltr/admin/limits.py (e.g. RGBT_MAX_IMAGE_PIXELS)',
     'the bound in ltr/admin/limits.py'),
    ('WORLD_SIZE', 'DistributedDataParallel: number of processes (set by torchrun)', '1'),
    ('LOCAL_RANK', 'DistributedDataParallel: this process (set by torchrun)', '0'),
    ('DISPLAY', 'whether run_video can open a window (also WAYLAND_DISPLAY)', 'no window'),
    ('WAYLAND_DISPLAY', 'as DISPLAY', 'no window'),
)


def read_variable(name: str) -> Optional[str]:
    """The value of a registered variable (None when unset or empty). An unregistered name is a
    programming error: every variable is in VARIABLES, so the table in the docs is complete."""
    registered = name if name in VARIABLES else ('RGBT_MAX_<NAME>' if name.startswith('RGBT_MAX_') else None)
    if registered is None:
        raise KeyError(f"environment variable {name} is not in ltr/admin/variables.py's table")
    return os.environ.get(name) or None


def set_default(name: str, value: str) -> None:
    """Sets a registered variable when it is unset (for variables read by libraries, e.g. OpenMP)."""
    read_variable(name)
    os.environ.setdefault(name, value)


def set_variable(name: str, value: str) -> None:
    """Sets a registered variable for this process and the ones it starts (a command-line flag that
    data-loading workers must also see)."""
    read_variable(name)
    os.environ[name] = value


def markdown_table() -> str:
    lines = ['| variable | feeds | default |', '|---|---|---|']
    lines += [f"| `{v.name}` | {v.feeds} | {v.default} |" for v in VARIABLES.values()]
    return '\n'.join(lines)
