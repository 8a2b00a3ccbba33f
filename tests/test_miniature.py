"""The miniature's shared module: the thread policy, the verdict's criterion on hand-made scores,
the rows, and the floor's checkpoint."""
import pytest
import torch

from ltr.admin import threads
from rgbt import miniature


@pytest.mark.parametrize('text, expected', [('3', 3), ('4,2', 4), (' 2 ', 2), ('abc', None), ('0', None), ('', None)])
def test_omp_num_threads_is_parsed_with_openmp_syntax_and_bad_values_ignored(monkeypatch, text, expected):
    monkeypatch.setenv('OMP_NUM_THREADS', text)
    assert threads.omp_num_threads() == expected
    assert threads.resolve_threads() == (expected or threads.available_cpus())


def test_the_thread_count_does_not_follow_the_machines_load(monkeypatch):
    """The count is the affinity mask's, whatever runs beside: /proc/loadavg is never read."""
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(threads.os, 'sched_getaffinity', lambda pid: {0, 1, 2})
    real_open = open

    def no_loadavg(path, *args, **kwargs):
        assert 'loadavg' not in str(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr('builtins.open', no_loadavg)
    assert threads.resolve_threads() == 3 and threads.resolve_threads(1) == 1
    with pytest.raises(ValueError):
        threads.resolve_threads(0)
    before = torch.get_num_threads()
    try:
        assert threads.use_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize('given, expected', [(None, 'PASSIVE'), ('ACTIVE', 'ACTIVE')])
def test_importing_the_package_makes_openmp_threads_sleep_unless_the_user_chose(given, expected):
    """The policy is set before torch loads OpenMP: the torch process itself sees it."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != 'OMP_WAIT_POLICY'}
    if given:
        env['OMP_WAIT_POLICY'] = given
    script = "import os, rgbt.experiments, torch; print(os.environ['OMP_WAIT_POLICY'])"
    done = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == expected


def _scores(**sr):
    return {row: {'PR': 0.0, 'NPR': 0.0, 'SR': value} for row, value in sr.items()}


def _seed(floor=10, origin=30, control=30, cmd=30, teacher=30):
    return _scores(**{'Untrained student': floor, 'Student-Origin': origin, 'MPSD student, no distillation': control,
                      'CMD student': cmd, 'Teacher': teacher})


def test_the_criterion_needs_four_of_five_seeds_and_a_mean_difference_above_two():
    holds = {s: _seed(cmd=33, control=30) for s in range(5)}
    assert 'CMD student above MPSD student, no distillation: holds (CMD student higher on 5 of 5' \
           in miniature.verdict(holds)
    three_wins = {s: _seed(cmd=40 if s < 3 else 29, control=30) for s in range(5)}     # mean +5.6, 3 of 5
    assert 'no distillation: not shown (CMD student higher on 3 of 5 seeds, mean paired SR difference +5.6)' \
           in miniature.verdict(three_wins)
    small = {s: _seed(cmd=31.5, control=30) for s in range(5)}                          # 5 of 5, mean +1.5
    assert 'no distillation: not shown' in miniature.verdict(small)
    reversed_ = {s: _seed(cmd=25, control=30) for s in range(5)}
    assert 'no distillation: reversed' in miniature.verdict(reversed_)


def test_a_seed_whose_students_do_not_learn_is_named():
    per_seed = {10: _seed(origin=15), 11: _seed()}
    text = miniature.verdict(per_seed)
    assert 'NO: seed 10: Student-Origin SR 15.0, floor 10.0' in text and 'seed 11' not in text.split('\n')[0]
    assert 'Only 2 of the 5 verdict seeds' in text


def test_the_verdict_rows_are_floor_baseline_control_cmd_teacher():
    assert miniature.VERDICT_ROWS == ('Untrained student', 'Student-Origin', 'MPSD student, no distillation',
                                      'CMD student', 'Teacher')
    settings = [miniature.ROWS[name].setting for name in miniature.VERDICT_ROWS]
    assert [miniature.needs_teacher(s) for s in settings] == [False, False, False, True, False]


def test_the_floor_is_a_seeded_untrained_student_with_the_miniature_crop(tmp_path):
    from pytracking.features.net_wrappers import NetworkFile
    folder = miniature.save_untrained(tmp_path, seed=3)
    again = miniature.save_untrained(tmp_path / 'again', seed=3)
    first = torch.load(next(folder.glob('*.pth.tar')), weights_only=True)['net']
    second = torch.load(next(again.glob('*.pth.tar')), weights_only=True)['net']
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert NetworkFile('x', path=str(folder)).training_crop_size() == 128
    assert miniature.trained_iterations(tmp_path, miniature.UNTRAINED) == 0


def test_the_budget_gives_every_student_the_same_iterations_and_the_teacher_its_ratio():
    students, teacher = miniature.iteration_budget(1000, ['student', 'student_mpsd_nodistill', 'student_distill'])
    cost = miniature.CPU_SECONDS_PER_ITERATION
    per_iteration = miniature.TEACHER_ITERATION_RATIO * cost['teacher'] + 2 * cost['student'] + cost['distilled']
    assert students == int(1000 / per_iteration) and teacher == miniature.TEACHER_ITERATION_RATIO * students


def test_report_only_summarises_the_recorded_seeds_and_trains_nothing(tmp_path, monkeypatch, capsys):
    import json
    from rgbt import experiments
    monkeypatch.setattr(experiments, 'train_setting', lambda *a, **k: pytest.fail('trained'))
    monkeypatch.setattr(experiments, 'prepare_benchmark', lambda *a, **k: pytest.fail('generated'))
    record = tmp_path / 'verdict'
    record.mkdir()
    for seed, cmd in ((10, 40), (12, 30)):
        scores = _seed(floor=10, origin=30, control=32, cmd=cmd, teacher=35)
        (record / f'seed{seed}.json').write_text(json.dumps({'seed': seed, 'scores': scores, 'minutes': 60.0}))
    experiments.main(['verdict', '--seed-list', '10,11,12,13,14', '--record', str(record), '--report-only',
                      '--out', str(tmp_path / 'out')])
    text = (tmp_path / 'out' / 'verdict.md').read_text()
    assert 'seeds [10, 12]' in text and '120.0 min in all' in text
    assert 'Only 2 of the 5 verdict seeds: a partial reading, not the verdict.' in text
    assert 'CMD student above MPSD student, no distillation: not shown (CMD student higher on 1 of 2 seeds, mean paired SR difference +3.0)' in text
    with pytest.raises(SystemExit, match='no seed of --seed-list is recorded'):
        experiments.main(['verdict', '--seed-list', '11', '--record', str(record), '--report-only', '--out', str(tmp_path)])


def test_the_per_seed_table_lists_every_seed_and_row_in_order():
    from rgbt.experiments import per_seed_table
    per_seed = {11: _seed(floor=12.34, cmd=40), 10: _seed(origin=21.25)}
    lines = per_seed_table('verdict', per_seed).splitlines()
    assert lines[2] == ('| seed | Untrained student | Student-Origin | MPSD student, no distillation | CMD student | '
                        'Teacher |')
    assert lines[4] == '| 10 | 0.0 / 0.0 / 10.0 | 0.0 / 0.0 / 21.2 | 0.0 / 0.0 / 30.0 | 0.0 / 0.0 / 30.0 | 0.0 / 0.0 / 30.0 |'
    assert lines[5].startswith('| 11 | 0.0 / 0.0 / 12.3 |') and lines[5].endswith('| 0.0 / 0.0 / 40.0 | 0.0 / 0.0 / 30.0 |')


def test_a_shared_teacher_trains_epochs_of_150_keeps_them_all_and_returns_the_budgets_epoch(tmp_path, monkeypatch):
    calls = []

    def fake_train(workspace, setting, iterations, device, seed, synthetic, epochs, overrides):
        calls.append((workspace, setting, iterations, seed, epochs, overrides))
        folder = miniature.checkpoint_dir(workspace, setting)
        folder.mkdir(parents=True, exist_ok=True)
        for epoch in range(1, epochs + 1):
            (folder / f'RGBTDiMPnet_ep{epoch:04d}.pth.tar').touch()

    monkeypatch.setattr(miniature, 'train_setting', fake_train)
    path, results = miniature.train_shared_teacher(tmp_path, 100, 600, 'cpu', tmp_path / 'data', threads=2)
    assert results == tmp_path / 'teacher_seed100' / 'results' / 'teacher_600'
    assert path.name == 'RGBTDiMPnet_ep0004.pth.tar' and path.parent.parent.name == 'cmd'
    assert calls == [(tmp_path / 'teacher_seed100', 'teacher', 600, 100, 4, {'keep_checkpoints': None, 'threads': 2})]
    assert miniature.train_shared_teacher(tmp_path, 100, 300, 'cpu', tmp_path / 'data')[0].name == 'RGBTDiMPnet_ep0002.pth.tar'
    with pytest.raises(ValueError, match='multiple of 150'):
        miniature.train_shared_teacher(tmp_path, 100, 200, 'cpu', tmp_path / 'data')


def test_with_a_shared_teacher_a_seed_trains_no_teacher_and_distils_from_the_shared_one(tmp_path, monkeypatch):
    from rgbt import experiments
    trained, tracked = [], {}
    monkeypatch.setattr(experiments, 'train_setting',
                        lambda workspace, setting, *a, overrides=None, **k: trained.append((setting, overrides)))

    def fake_track(workspace, setting, tracker_name, results, synthetic, device, threads, net_path=None):
        tracked[setting] = (results, net_path)
        return results

    monkeypatch.setattr(experiments, 'track_setting', fake_track)
    monkeypatch.setattr(experiments, 'score', lambda folders, synthetic: {name: {'SR': 1.0} for name in folders})
    shared = (tmp_path / 'teacher.pth.tar', tmp_path / 'teacher_results')
    experiments.run_seed(tmp_path, 'verdict', 20, 140, 600, 'cpu', tmp_path / 'data',
                         {'scfd_target_norm': 'channel_std'}, threads=1, shared_teacher=shared)
    assert [setting for setting, _ in trained] == ['untrained', 'student', 'student_mpsd_nodistill', 'student_distill']
    assert dict(trained)['student_distill'] == {'scfd_target_norm': 'channel_std', 'teacher': str(shared[0]), 'threads': 1}
    assert dict(trained)['student_mpsd_nodistill'] == {'threads': 1}
    assert tracked['teacher'] == (shared[1], shared[0])
    assert tracked['student_distill'] == (tmp_path / 'seed20' / 'results' / 'student_distill', None)


def test_a_teacher_first_criterion_judges_its_metric_and_says_first_whether_the_teacher_is_above_both():
    by_pr = miniature.Criterion('test', seeds=(0, 1, 2, 3, 4), metric='PR', teacher_first=True)
    per_seed = {}
    for seed in range(5):
        scores = _seed(floor=10, origin=30, control=30, cmd=30, teacher=20)     # by SR the teacher is below
        for row, pr in (('Untrained student', 10), ('Student-Origin', 40), ('MPSD student, no distillation', 38),
                        ('CMD student', 41), ('Teacher', 45 if seed else 39)):
            scores[row]['PR'] = pr
        per_seed[seed] = scores
    lines = miniature.verdict(per_seed, by_pr).splitlines()
    assert lines[0].startswith('- Teacher above both students: yes; Teacher above Student-Origin: holds (Teacher '
                               'higher on 4 of 5 seeds, mean paired PR difference +3.8)')
    assert lines[1] == '- Students learn (>= floor + 10 PR on every seed): yes'
    assert '- CMD student above MPSD student, no distillation: holds (CMD student higher on 5 of 5 seeds, mean paired PR difference +3.0)' in lines
    assert miniature.verdict(per_seed).splitlines()[0].startswith('- Students learn (>= floor + 10 SR')   # the first criterion
    per_seed[1]['Teacher']['PR'] = per_seed[2]['Teacher']['PR'] = 30
    assert miniature.verdict(per_seed, by_pr).splitlines()[0].startswith(
        '- Teacher above both students: NO (nothing better to distil from); Teacher above Student-Origin: not shown')
