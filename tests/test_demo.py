"""The embedded default end to end with a tiny budget: data, three trainings, tracking, report."""
import math
import re

from rgbt import demo


def test_demo_end_to_end_tiny_budget(tmp_path, monkeypatch, capsys):
    out = tmp_path / 'demo'
    import os
    from pathlib import Path
    for name in ('SYNTHETIC_PATH', 'RGBT_RESULTS_PATH', 'CMD_PROFILE'):
        monkeypatch.delenv(name, raising=False)
    workspace = os.environ['RGBT_WORKSPACE']
    demo.main(['--minutes', '0.5', '--out', str(out), '--device', 'cpu'])
    # Paths are passed, not set: no environment variable changed, nothing written to the workspace.
    assert os.environ['RGBT_WORKSPACE'] == workspace and not any(
        name in os.environ for name in ('SYNTHETIC_PATH', 'RGBT_RESULTS_PATH', 'CMD_PROFILE'))
    assert not (Path(workspace) / 'checkpoints').exists() and not (Path(workspace) / 'data').exists()
    report = out / 'report'
    for name in ('report.md', 'success_plot.png', 'precision_plot.png', 'sequence_strip.png', 'sequence.gif'):
        assert (report / name).stat().st_size > (300 if name.endswith('.md') else 1000), name
    text = (report / 'report.md').read_text()
    rows = {}
    for line in text.splitlines():
        match = re.match(r'\| ([A-Z][^|]+?) \| ([-0-9. |]+) \|$', line)
        if match:
            rows[match.group(1)] = [float(v) for v in match.group(2).split(' | ')]
    assert list(rows) == ['Untrained student', 'Student-Origin', 'MPSD student, no distillation', 'CMD student', 'Teacher']
    for values in rows.values():
        assert len(values) == 6 and all(math.isfinite(v) for v in values)
    assert rows['Teacher'][4] > 3 * rows['CMD student'][4]           # parameters (M)
    teacher, student = demo.training_iterations(0.5, 'cpu')
    # Iterations actually trained (from the checkpoints: whole epochs), not the budget's figure.
    assert rows['Untrained student'][5] == 0 and rows['Teacher'][5] >= teacher
    assert rows['Student-Origin'][5] == rows['MPSD student, no distillation'][5] == rows['CMD student'][5] >= student
    distilled, control = rows['CMD student'][2], rows['MPSD student, no distillation'][2]
    relation = 'above' if distilled > control else ('level with' if distilled == control else 'below')
    assert f"Distillation: CMD student {relation} MPSD student, no distillation ({distilled:.1f} vs {control:.1f}" in text
    assert 'torch threads' in text
    # Both students trained the same number of iterations on the same number of samples.
    import torch
    schedules = []
    for setting in ('student', 'student_mpsd_nodistill', 'student_distill'):
        folder = out / 'checkpoints' / 'ltr' / 'cmd' / setting
        saved = torch.load(sorted(folder.glob('*.pth.tar'))[-1], weights_only=True)['settings']
        schedules.append((saved['config']['epochs'], saved['samples_per_epoch'], saved['batch_size']))
    assert schedules[0] == schedules[1] == schedules[2]
    # The demo's CMD student normalises SCFD's targets (our choice, stated in the report); Student-Origin has no SCFD.
    folder = out / 'checkpoints' / 'ltr' / 'cmd' / 'student_distill'
    config = torch.load(sorted(folder.glob('*.pth.tar'))[-1], weights_only=True)['settings']['config']
    assert config['scfd_target_norm'] == 'channel_std' and str(demo.DEMO_DISTILL_SETTINGS) in text
    assert str(report / 'report.md') in capsys.readouterr().out
    # A second run reuses every finished stage.
    stamp = (out / 'checkpoints' / 'ltr' / 'cmd' / 'teacher').stat().st_mtime_ns
    demo.main(['--minutes', '0.5', '--out', str(out), '--device', 'cpu'])
    assert (out / 'checkpoints' / 'ltr' / 'cmd' / 'teacher').stat().st_mtime_ns == stamp


def test_tracking_runs_on_the_requested_device(tmp_path, monkeypatch):
    """`--device cpu` on a CUDA machine tracked on the GPU (the tracker's use_gpu default): the
    experiments and the demo pass their device to the tracker."""
    from rgbt import experiments
    captured = []
    monkeypatch.setattr('rgbt.miniature.get_dataset', lambda *args, **kwargs: [])
    monkeypatch.setattr('rgbt.miniature.run_dataset',
                        lambda sequences, trackers: captured.append(trackers[0]) or [])
    for device in ('cpu', 'cuda'):
        experiments.track_setting(tmp_path, 'student', 'cmd_student', tmp_path / device, tmp_path / 'syn', device=device)
    assert [t.get_parameters().use_gpu for t in captured] == [False, True]


def test_budget_gives_the_teacher_three_times_each_students_iterations():
    """The split follows the rule and spends the training share of the budget (CPU costs per iteration)."""
    from rgbt.miniature import CPU_SECONDS_PER_ITERATION as cost
    from rgbt.miniature import TEACHER_ITERATION_RATIO
    for minutes in (15, 30):
        teacher, student = demo.training_iterations(minutes, 'cpu')
        assert TEACHER_ITERATION_RATIO == 3 and teacher == TEACHER_ITERATION_RATIO * student
        # Student-Origin and the control train without a teacher, the CMD student with one.
        spent = teacher * cost['teacher'] + student * (2 * cost['student'] + cost['distilled'])
        assert 0.8 * 0.85 * 60 * minutes < spent <= 0.85 * 60 * minutes


def test_experiments_reuse_scored_seeds_and_complete_a_table_that_gained_rows(tmp_path, monkeypatch):
    """A scored seed is not trained, tracked or scored again; after a row is added to the table the
    seed is completed and scored with the new row (train_setting and track_setting themselves skip
    finished checkpoints and tracked sequences: the old rows cost nothing)."""
    from rgbt import experiments
    trained, tracked = [], []
    monkeypatch.setattr(experiments, 'train_setting', lambda ws, setting, *a, **k: trained.append(setting))
    monkeypatch.setattr(experiments, 'track_setting', lambda ws, setting, *a, **k: tracked.append(setting) or setting)
    monkeypatch.setattr(experiments, 'score', lambda folders, synthetic: {
        name: {'PR': 1.0, 'NPR': 2.0, 'SR': float(len(setting))} for name, setting in folders.items()})
    rows = [('Student', 'student', 'cmd_student'), ('Ours', 'student_distill', 'cmd_student')]
    monkeypatch.setitem(experiments.TABLES, 'tableX', rows)
    first = experiments.run_seed(tmp_path, 'tableX', 0, 8, 16, 'cpu', tmp_path / 'syn')
    assert set(first) == {'Student', 'Ours'} and first['Ours']['SR'] == len('student_distill')
    assert trained == ['teacher', 'student', 'student_distill'] and tracked == ['student', 'student_distill']
    trained.clear(), tracked.clear()
    assert experiments.run_seed(tmp_path, 'tableX', 0, 8, 16, 'cpu', tmp_path / 'syn') == first
    assert trained == [] and tracked == []
    monkeypatch.setitem(experiments.TABLES, 'tableX', rows + [('MD', 'student_md', 'cmd_student')])
    grown = experiments.run_seed(tmp_path, 'tableX', 0, 8, 16, 'cpu', tmp_path / 'syn')
    assert set(grown) == {'Student', 'Ours', 'MD'} and grown['MD']['SR'] == len('student_md')
