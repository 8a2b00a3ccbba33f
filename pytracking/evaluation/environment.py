"""Tracking and evaluation path settings (pytracking/evaluation/local.py, generated on first use)."""
from pathlib import Path
from typing import Optional

from ltr.admin.environment import PathSetting, PathSettings, import_local, write_local_file

TRACKING_SETTINGS = (
    PathSetting('workspace_dir', 'RGBT_WORKSPACE', '', 'default parent of the folders below'),
    PathSetting('results_path', 'RGBT_RESULTS_PATH', 'tracking_results', 'raw tracking results'),
    PathSetting('network_path', 'RGBT_NETWORK_PATH', 'networks', 'network files (cmd_student.pth.tar, ...)'),
    PathSetting('result_plot_path', None, 'result_plots', 'plots and evaluation caches'),
    PathSetting('gtot_path', 'GTOT_PATH', None, 'GTOT root'),
    PathSetting('rgbt234_path', 'RGBT234_PATH', None, 'RGBT234 root'),
    PathSetting('rgbt210_path', 'RGBT210_PATH', None, 'RGBT210 root'),
    PathSetting('lasher_path', 'LASHER_PATH', None, 'LasHeR root (trainingset/, testingset/)'),
    PathSetting('vtuav_path', 'VTUAV_PATH', None, 'VTUAV root (test_ST/, test_LT/, train_ST/, train_LT/)'),
    PathSetting('synthetic_path', 'SYNTHETIC_PATH', 'data/synthetic', 'synthetic RGB-T benchmark'),
)
TRACKING_LOCAL_FILE = Path(__file__).resolve().parent / 'local.py'


def _generate_tracking_local(path: Path) -> None:
    write_local_file(path, 'Local paths for CMD-RGBT tracking and evaluation (generated; edit freely, git ignores it).',
                     TRACKING_SETTINGS, 'class EnvSettings:\n    def __init__(self):', ' ' * 8,
                     closing='\n\ndef local_env_settings():\n    return EnvSettings()')


def env_settings() -> PathSettings:
    """Tracking path settings from pytracking/evaluation/local.py and the environment."""
    local = import_local('pytracking.evaluation.local', TRACKING_LOCAL_FILE, _generate_tracking_local)
    return PathSettings(TRACKING_SETTINGS, vars(local.local_env_settings()), TRACKING_LOCAL_FILE)


def tracker_results_dir(tracker: str, param: str, runid: Optional[int] = None) -> Path:
    """pytracking's result folder `<results_path>/<tracker>/<param>[_<runid:03d>]`."""
    folder = param if runid is None else f"{param}_{int(runid):03d}"
    return Path(env_settings().results_path) / tracker / folder
