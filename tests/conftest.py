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


SAMPLE = 128      # the tracker's crop size in tests: small crops, fast on CPU


@pytest.fixture(scope='module')
def network_file(tmp_path_factory):
    """A random-weight CMD student saved as a tracking network file trained at SAMPLE pixels."""
    from ltr.admin.loading import save_network
    from rgbt.nets import cmd_student
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('net') / 'cmd_student.pth.tar'
    save_network(cmd_student(backbone_pretrained=False), path, settings={'output_sz': SAMPLE})
    return path


@pytest.fixture
def shared_specs():
    path = SHARED / 'specs'
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
