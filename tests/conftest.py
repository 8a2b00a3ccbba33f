"""Shared fixtures. Tests run on CPU; shared/ data is optional and skipped when absent."""
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / 'shared'


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path_factory, monkeypatch):
    """Every test gets its own workspace, so nothing is written into the checkout's workspace/."""
    monkeypatch.setenv('RGBT_WORKSPACE', str(tmp_path_factory.mktemp('workspace')))


@pytest.fixture
def shared_specs():
    path = SHARED / 'specs'
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
