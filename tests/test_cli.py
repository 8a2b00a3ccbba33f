"""The tracking command lines as a user runs them: separate processes, arguments and environment."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ltr.admin.loading import save_network
from rgbt.benchmarks import read_boxes
from rgbt.nets import cmd_student
from rgbt.synthetic import SequenceSpec, generate_benchmark

REPO = Path(__file__).resolve().parents[1]
SAMPLE = 128


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A network folder with a small student, and a synthetic benchmark of one short test sequence."""
    root = tmp_path_factory.mktemp('cli')
    torch.manual_seed(0)
    (root / 'networks').mkdir()
    save_network(cmd_student(backbone_pretrained=False), root / 'networks' / 'cmd_student.pth.tar',
                 settings={'output_sz': SAMPLE})
    generate_benchmark(root / 'synthetic', 'rgbt234', {'train': 1, 'test': 1},
                       SequenceSpec(num_frames=6, width=160, height=128), seed=3, progress=False)
    return root


def run(args, workspace, **env):
    environment = dict(os.environ, RGBT_WORKSPACE=str(workspace), RGBT_NETWORK_PATH=str(workspace / 'networks'),
                       SYNTHETIC_PATH=str(workspace / 'synthetic'), RGBT_RESULTS_PATH=str(workspace / 'results'),
                       OMP_NUM_THREADS='2')
    environment.update(env)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=600)


def test_run_video_tracks_a_folder_pair_and_writes_one_box_per_frame(workspace, tmp_path):
    sequence = workspace / 'synthetic' / 'test' / 'test000'             # the RGBT234 layout
    init = read_boxes(sequence / 'init.txt')[0]
    out = tmp_path / 'boxes.txt'
    result = run(['pytracking/run_video.py', 'cmd_student', '--rgb', str(sequence / 'visible'),
                  '--tir', str(sequence / 'infrared'),
                  '--init', ','.join(f"{v:g}" for v in init), '--out', str(out)], workspace)
    assert result.returncode == 0, result.stderr
    assert "6 frames tracked" in result.stdout and str(out) in result.stdout
    boxes = np.loadtxt(out, delimiter=',')
    assert boxes.shape == (6, 4) and np.allclose(boxes[0], init, atol=0.01)
    assert np.all(boxes[:, 2:] > 0) and np.all(np.isfinite(boxes))


def test_run_experiment_runs_every_tracker_of_the_experiment(workspace):
    teacher = workspace / 'networks' / 'cmd_teacher.pth.tar'
    if not teacher.exists():          # the synthetic experiment tracks with the student and the teacher
        from rgbt.nets import cmd_teacher
        torch.manual_seed(1)
        save_network(cmd_teacher(backbone_pretrained=False), teacher, settings={'output_sz': SAMPLE})
    result = run(['pytracking/run_experiment.py', 'cmd', 'synthetic'], workspace)
    assert result.returncode == 0, result.stderr
    for tracker in ('cmd_student', 'cmd_teacher'):
        folder = workspace / 'results' / tracker / 'synthetic'
        (results,) = [p for p in folder.glob('*.txt') if not p.name.endswith('_time.txt')]
        assert np.loadtxt(results, delimiter='\t').shape == (6, 4)
    # Run again: the finished results are kept, not tracked a second time.
    before = {p: p.stat().st_mtime_ns for p in (workspace / 'results').rglob('*.txt')}
    assert run(['pytracking/run_experiment.py', 'cmd', 'synthetic'], workspace).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in (workspace / 'results').rglob('*.txt')} == before


def test_run_experiment_exits_non_zero_when_a_sequence_fails(workspace, tmp_path):
    """A missing network fails every run of the experiment: the command says so in its exit status."""
    result = run(['pytracking/run_experiment.py', 'cmd', 'synthetic'], workspace,
                 RGBT_RESULTS_PATH=str(tmp_path / 'results'), RGBT_NETWORK_PATH=str(tmp_path / 'none'),
                 RGBT_WORKSPACE=str(tmp_path))
    assert result.returncode != 0
    assert 'cmd_student.pth.tar' in result.stdout + result.stderr
