"""install.sh: syntax, and the fast path of a second run."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_install_script_parses():
    subprocess.run(['bash', '-n', str(REPO_ROOT / 'install.sh')], check=True)


def test_second_run_with_unchanged_inputs_returns_without_installing(tmp_path):
    for name in ('install.sh', 'requirements.txt', 'pyproject.toml'):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    venv_bin = tmp_path / '.venv' / 'bin'
    venv_bin.mkdir(parents=True)
    os.symlink(sys.executable, venv_bin / 'python')
    digest = hashlib.sha256(b''.join((tmp_path / n).read_bytes()
                                     for n in ('install.sh', 'requirements.txt', 'pyproject.toml'))).hexdigest()
    (tmp_path / '.venv' / '.rgbt-install-stamp').write_text(digest + '\n')
    result = subprocess.run(['bash', 'install.sh'], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'up to date' in result.stdout
    assert not (tmp_path / 'cmd_rgbt.egg-info').exists()


def test_ci_runs_the_readme_test_command():
    command = 'bash install.sh && .venv/bin/python -m pytest -q --durations=20'
    assert command in (REPO_ROOT / 'README.md').read_text()
    assert command in (REPO_ROOT / '.ci' / 'run').read_text()
