"""Evaluation protocols: hand-computed cases, published numbers, MATLAB per-sequence oracles, result
file formats, policies for bad files, and the command line."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pytracking.analysis import PROTOCOLS, evaluate, evaluate_folders, matlab_colon, plot_results
from pytracking.analysis.evaluation import frame_measures
from pytracking.analysis.results import ResultFileError, detect_prefix, load_tracker_results, read_result_file
from pytracking import run_analysis
from rgbt.benchmarks import GTOT, LasHeR, RGBTSequence, read_name_list

from conftest import SHARED

ANNOTATIONS = SHARED / 'data' / 'benchmark_annotations'
RAW = SHARED / 'data' / 'raw_results'
needs_shared = pytest.mark.skipif(not RAW.is_dir() or not ANNOTATIONS.is_dir(), reason='shared data absent')


def sequence(name, gt, gt_tir=None, attributes=()):
    gt = np.asarray(gt, dtype=float)
    return RGBTSequence(name, 'test', gt, gt if gt_tir is None else np.asarray(gt_tir, dtype=float),
                        attributes=attributes)


def results(name, boxes):
    from pytracking.analysis.results import TrackerResults
    return TrackerResults(name, Path('.'), '', {k: np.asarray(v, dtype=float) for k, v in boxes.items()})


# --- primitives and hand-computed protocol cases --------------------------------------------------


def test_matlab_colon_thresholds():
    thresholds = matlab_colon(0, 0.05, 1)
    assert len(thresholds) == 21 and thresholds[0] == 0 and thresholds[-1] == 1.0
    assert thresholds[13] == 0.6499999999999999          # MATLAB's value; np.linspace gives 0.65
    assert len(matlab_colon(0, 0.5, 25)) == 51 and matlab_colon(0, 0.5, 25)[10] == 5.0


def test_lasher_rules_first_frame_bad_rows_and_invalid_frames():
    gt = [[10, 10, 20, 20], [10, 10, 20, 20], [0, 50, 20, 20], [10, 10, 20, 20]]
    pred = [[90, 90, 5, 5],        # frame 1: replaced by the GT -> hit
            [10, 10, 20, 20],      # exact -> hit
            [10, 10, 0, 20],       # w = 0: replaced by the previous row; GT x = 0 -> invalid anyway
            [40, 10, 20, 20]]      # 30 px off, IoU 0 -> miss
    seq = sequence('s', gt)
    measures = frame_measures(PROTOCOLS['lasher'], [np.array(pred, float)], [seq])
    np.testing.assert_array_equal(measures.error, [0, 0, -1, 30])
    np.testing.assert_array_equal(measures.overlap, [1, 1, -1, 0])
    scores = evaluate('lasher', [seq], [results('T', {'s': pred})]).trackers['T']['scores']
    assert scores['PR'] == pytest.approx(100 * 3 / 4)             # the invalid frame is a hit for precision
    # Success: frames 1, 2 pass every threshold but 1.0 (IoU > 1 never); frames 3, 4 never: 2 * 20/21 / 4.
    assert scores['SR'] == pytest.approx(100 * 2 * 20 / 21 / 4)
    assert scores['NPR'] == pytest.approx(100 * 3 / 4)


def test_rgbt234_scores_the_better_modality_and_keeps_frame_one():
    gt_v = [[0, 0, 10, 10], [0, 0, 10, 10]]
    gt_i = [[20, 0, 10, 10], [20, 0, 10, 10]]
    pred = [[20, 0, 10, 10], [50, 50, 10, 10]]     # frame 1 matches infrared only; frame 2 matches neither
    seq = sequence('s', gt_v, gt_i)
    measures = frame_measures(PROTOCOLS['rgbt234'], [np.array(pred, float)], [seq])
    np.testing.assert_array_equal(measures.overlap, [1, 0])
    assert measures.error[0] == 0 and measures.error[1] == pytest.approx(np.hypot(30, 50))
    assert evaluate('rgbt234', [seq], [results('T', {'s': pred})]).trackers['T']['scores']['PR'] == 50


def test_gtot_pools_frames_and_counts_precision_strictly():
    long = sequence('long', [[0, 0, 10, 10]] * 3)
    short = sequence('short', [[0, 0, 10, 10]])
    preds = {'long': [[0, 0, 10, 10], [5, 0, 10, 10], [0, 4, 10, 10]],    # errors 0, 5, 4
             'short': [[5, 0, 10, 10]]}                                  # error 5
    scores = evaluate('gtot', [long, short], [results('T', preds)]).trackers['T']['scores']
    # Pooled over 4 frames, error < 5 strictly: 2 of 4 (per-sequence averaging would give 1/3).
    assert scores['PR'] == pytest.approx(50.0)
    # IoU 1 (frame 1), 5/15 (two frames offset by 5), 6/14 (offset by 4): trapezoid over 0:0.02:1.
    thresholds = matlab_colon(0, 0.02, 1)
    ious = np.array([1, 5 / 15, 6 / 14, 5 / 15])
    curve = (ious[:, None] > thresholds).mean(axis=0)
    area = np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(thresholds))     # written out: NumPy 1.x has no trapezoid
    assert scores['SR'] == pytest.approx(100 * area)


def test_rgbt210_replaces_frame_one_and_fails_empty_ground_truth():
    gt = [[0, 0, 10, 10], [0, 0, 0, 0], [0, 0, 10, 10]]
    pred = [[50, 50, 10, 10], [0, 0, 0, 0], [0, 0, 10, 10]]
    measures = frame_measures(PROTOCOLS['rgbt210'], [np.array(pred, float)], [sequence('s', gt)])
    assert measures.overlap[0] == 1 and np.isnan(measures.overlap[1]) and measures.overlap[2] == 1
    scores = evaluate('rgbt210', [sequence('s', gt)], [results('T', {'s': pred})]).trackers['T']['scores']
    assert scores['SR'] == pytest.approx(100 * 2 * 20 / 21 / 3)


def test_perfect_tracker_on_synthetic_protocol():
    seqs = [sequence('a', [[5, 5, 10, 20]] * 4), sequence('b', [[1, 2, 30, 10]] * 2)]
    scores = evaluate('synthetic', seqs, [results('T', {s.name: s.gt_rgb for s in seqs})]).trackers['T']['scores']
    assert scores == pytest.approx({'PR': 100.0, 'NPR': 100.0, 'SR': 100 * 20 / 21})


def test_attribute_scores_average_only_sequences_with_the_attribute():
    good = sequence('good', [[0, 0, 10, 10]] * 2, attributes=('LI',))
    bad = sequence('bad', [[0, 0, 10, 10]] * 2, attributes=('TC',))
    preds = {'good': [[0, 0, 10, 10]] * 2, 'bad': [[0, 0, 10, 10], [80, 80, 10, 10]]}
    evaluation = evaluate('rgbt234', [good, bad], [results('T', preds)])
    assert evaluation.per_attribute['LI']['T']['scores']['PR'] == 100
    assert evaluation.per_attribute['TC']['T']['scores']['PR'] == 50
    assert evaluation.trackers['T']['scores']['PR'] == 75


# --- result files ------------------------------------------------------------------------------


def test_result_formats_prefixes_and_ignored_files(tmp_path):
    gt_lengths = {'car': 2, 'bikeboyturntimes': 2}
    (tmp_path / 'Trk_car.txt').write_text('1,2,3,4\n5,6,7,8\n9,9,9,9\n')           # long: truncated
    (tmp_path / 'Trk_bikeboyturntimes.txt').write_text('1\t2\t3\t4\r\n1.5 2.5  11.5 2.5 11.5 12.5 1.5 12.5\r\n')
    (tmp_path / 'Trk_car_time.txt').write_text('0.1\n0.1\n')
    (tmp_path / 'Trk_other.txt').write_text('1,2,3,4\n')
    (tmp_path / 'notes.md').write_text('x')
    with pytest.raises(Exception, match='line 2'):
        read_result_file(tmp_path / 'Trk_bikeboyturntimes.txt')      # 4 then 8 columns in one file
    (tmp_path / 'Trk_bikeboyturntimes.txt').write_text('1.5 2.5 11.5 2.5 11.5 12.5 1.5 12.5\n0 0 4 0 4 4 0 4\n')
    assert detect_prefix(os.listdir(tmp_path), list(gt_lengths)) == 'Trk_'
    loaded = load_tracker_results('Trk', tmp_path, gt_lengths)
    assert loaded.problems == {}
    np.testing.assert_array_equal(loaded.boxes['car'], [[1, 2, 3, 4], [5, 6, 7, 8]])
    # MATLAB corner2rect: round([x1, y1, x2 - x1, y2 - y1]).
    np.testing.assert_array_equal(loaded.boxes['bikeboyturntimes'], [[2, 2, 10, 10], [0, 0, 4, 4]])
    assert load_tracker_results('Trk', tmp_path, gt_lengths, prefix='Nope_').problems.keys() == gt_lengths.keys()


def test_missing_empty_and_short_files_fail_exclude_or_truncate(tmp_path):
    seqs = [sequence(n, [[0, 0, 10, 10]] * 3) for n in ('a', 'b', 'c', 'd')]
    folder = tmp_path / 'T'
    folder.mkdir()
    (folder / 'a.txt').write_text('0,0,10,10\n' * 3)
    (folder / 'b.txt').write_text('')
    (folder / 'c.txt').write_text('0,0,10,10\n' * 2)
    other = tmp_path / 'U'
    shutil.copytree(folder, other)
    (other / 'b.txt').write_text('0,0,10,10\n' * 3)
    (other / 'd.txt').write_text('0,0,10,10\n' * 3)
    loaded = [load_tracker_results('T', folder, {s.name: 3 for s in seqs}),
              load_tracker_results('U', other, {s.name: 3 for s in seqs})]
    with pytest.raises(ResultFileError) as err:
        evaluate('rgbt234', seqs, loaded)
    for text in ('missing', 'd.txt', 'empty', 'b.txt', 'short', 'c.txt: 2 rows for 3 frames'):
        assert text in str(err.value)
    with pytest.warns(UserWarning, match='excluded'):
        excluded = evaluate('rgbt234', seqs, loaded, on_problem='exclude')
    assert excluded.sequence_names == ['a'] and excluded.trackers['U']['sequences'] == 1
    with pytest.warns(UserWarning):
        truncated = evaluate('rgbt234', seqs, loaded, on_problem='truncate')
    assert truncated.sequence_names == ['a', 'c'] and truncated.trackers['T']['frames'] == 3 + 2


# --- published numbers and MATLAB oracles (shared/data) -----------------------------------------


@pytest.fixture(scope='module')
def lasher_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('LasHeR')
    official = ANNOTATIONS / 'LasHeR' / 'official'
    for folder, list_name in (('testingset', 'testingsetList.txt'), ('trainingset', 'trainingsetList.txt')):
        shutil.copy(official / list_name, root / list_name)
        for name in read_name_list(official / list_name):
            (root / folder / name).mkdir(parents=True)
            shutil.copy(ANNOTATIONS / 'LasHeR' / 'lasher_gt' / f"{name}.txt", root / folder / name / 'init.txt')
    return root


@pytest.fixture(scope='module')
def gtot_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('GTOT')
    for name in read_name_list(ANNOTATIONS / 'GTOT' / 'SequencesName.txt'):
        shutil.copytree(ANNOTATIONS / 'GTOT' / 'groundtruth' / name, root / name)
    return root


@pytest.fixture(scope='module')
def rgbt234_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('RGBT234')
    for name in read_name_list(ANNOTATIONS / 'RGBT234' / 'attr_txt' / 'SequencesName.txt'):
        (root / name).mkdir()
        for file in ('visible.txt', 'infrared.txt', 'init.txt'):
            shutil.copy(ANNOTATIONS / 'RGBT234' / 'rgbt234_gt' / name / file, root / name / file)
    shutil.copytree(ANNOTATIONS / 'RGBT234' / 'attr_txt', root / 'attr_txt')
    return root


def rounded(evaluation, tracker):
    return {k: round(float(v), 1) for k, v in evaluation.trackers[tracker]['scores'].items()}


@needs_shared
def test_lasher_published_numbers_and_all_trackers(lasher_root):
    folders = {t: RAW / 'lasher_test' / t for t in sorted(os.listdir(RAW / 'lasher_test'))}
    folders['CAT (1224 files)'] = RAW / 'lasher_all' / 'CAT'
    evaluation = evaluate_folders('lasher', folders, dataset_root=lasher_root)
    assert rounded(evaluation, 'mfDiMP') == {'PR': 44.7, 'NPR': 39.5, 'SR': 34.3}
    assert rounded(evaluation, 'APFNet') == {'PR': 50.0, 'NPR': 43.9, 'SR': 36.2}
    assert len(evaluation.sequence_names) == 245 and len(evaluation.trackers) == 15
    assert evaluation.trackers['CAT']['scores'] == evaluation.trackers['CAT (1224 files)']['scores']
    assert len(evaluation.per_attribute) == 0       # this annotation-only copy has no attribute files


@needs_shared
def test_gtot_published_numbers_and_all_trackers(gtot_root):
    folders = {t: RAW / 'gtot' / t for t in sorted(os.listdir(RAW / 'gtot'))}
    evaluation = evaluate_folders('gtot', folders, dataset_root=gtot_root)
    assert rounded(evaluation, 'APFNet') == {'PR': 90.5, 'SR': 73.7}
    assert len(evaluation.trackers) == 9


@needs_shared
def test_rgbt234_published_numbers(rgbt234_root):
    folders = {t: RAW / 'rgbt234' / t for t in sorted(os.listdir(RAW / 'rgbt234'))}
    with pytest.raises(ResultFileError, match='orangeman1'):     # 920 rows for 921 frames
        evaluate_folders('rgbt234', folders, dataset_root=rgbt234_root)
    with pytest.warns(UserWarning):
        evaluation = evaluate_folders('rgbt234', folders, dataset_root=rgbt234_root, on_problem='truncate')
    assert rounded(evaluation, 'JMMAC') == {'PR': 79.0, 'SR': 57.3}
    assert set(evaluation.per_attribute) == {'BC', 'CM', 'DEF', 'FM', 'HO', 'LI', 'LR', 'MB', 'NO', 'PO', 'SC', 'TC'}
    assert evaluation.per_attribute['TC']['JMMAC']['sequences'] == 28


@needs_shared
def test_lasher_curves_equal_matlab_toolkit_per_sequence(lasher_root):
    scipy_io = pytest.importorskip('scipy.io')
    benchmark = LasHeR(lasher_root, 'test')
    sequences = benchmark.sequences(annotations_only=True)
    order = read_name_list(ANNOTATIONS / 'LasHeR' / 'lashertest.txt')
    position = {s.name: i for i, s in enumerate(sequences)}
    permutation = [position[n] for n in order]
    reference = RAW / 'reference_curves' / 'lasher_matlab'
    npr = scipy_io.loadmat(str(reference / 'aveSuccessRatePlot_14alg_error_OPE.mat'))
    sr = scipy_io.loadmat(str(reference / 'aveSuccessRatePlot_14alg_overlap_OPE.mat'))
    names = [str(np.ravel(n)[0]) for n in np.ravel(npr['name_tracker_all'])]
    loaded = [load_tracker_results(n, RAW / 'lasher_test' / n, {s.name: len(s) for s in sequences}) for n in names]
    evaluation = evaluate('lasher', sequences, loaded)
    for index, name in enumerate(names):
        np.testing.assert_array_equal(evaluation.curves[name].norm_precision[permutation],
                                      npr['ave_success_rate_plot'][index], err_msg=name)
        np.testing.assert_array_equal(evaluation.curves[name].success[permutation],
                                      sr['ave_success_rate_plot'][index], err_msg=name)


@needs_shared
def test_gtot_frame_measures_equal_matlab_toolkit(gtot_root):
    scipy_io = pytest.importorskip('scipy.io')
    sequences = GTOT(gtot_root).sequences(annotations_only=True)
    for tracker in sorted(os.listdir(RAW / 'gtot')):
        oracle_dir = RAW / 'reference_curves' / 'gtot_matlab_err' / tracker.replace('MANet++', 'MaNet++')
        loaded = load_tracker_results(tracker, RAW / 'gtot' / tracker, {s.name: len(s) for s in sequences})
        for seq in sequences:
            oracle = scipy_io.loadmat(str(oracle_dir / f"{oracle_dir.name}_{seq.name}.mat"))
            measures = frame_measures(PROTOCOLS['gtot'], [loaded.boxes[seq.name]], [seq])
            np.testing.assert_array_equal(measures.overlap, oracle['err'].ravel(), err_msg=f"{tracker} {seq.name}")
            np.testing.assert_allclose(measures.error, oracle['errCenter'].ravel(), rtol=0, atol=1e-9)


# --- command line and plots ----------------------------------------------------------------------


def test_cli_json_csv_and_plots(tmp_path, capsys):
    root = tmp_path / 'rgbt234'
    for name, offset in (('seqA', 0), ('seqB', 3)):
        (root / name).mkdir(parents=True)
        for file in ('visible.txt', 'infrared.txt', 'init.txt'):
            (root / name / file).write_text('10,10,20,20\n12,10,20,20\n14,10,20,20\n')
        for tracker, shift in (('good', 0), ('bad', 25)):
            (tmp_path / tracker).mkdir(exist_ok=True)
            (tmp_path / tracker / f"{name}.txt").write_text(
                ''.join(f"{10 + 2 * i + shift + offset},10,20,20\n" for i in range(3)))
    (root / 'attr_txt').mkdir()
    (root / 'attr_txt' / 'SequencesName.txt').write_text('seqA\nseqB\n')
    (root / 'attr_txt' / 'LI.txt').write_text('1\n0\n')
    code = run_analysis.main(['--dataset', 'rgbt234', '--dataset-root', str(root),
                              '--results', f"good={tmp_path / 'good'}", '--results', f"bad={tmp_path / 'bad'}",
                              '--json', str(tmp_path / 'out.json'), '--csv', str(tmp_path / 'out.csv'),
                              '--plots', str(tmp_path / 'plots')])
    assert code == 0
    table = capsys.readouterr().out
    assert 'MPR' in table and 'MSR' in table and table.index('good') < table.index('bad')
    data = json.loads((tmp_path / 'out.json').read_text())
    assert data['dataset'] == 'rgbt234' and set(data['trackers']) == {'good', 'bad'}
    assert set(data['trackers']['good']) == {'PR', 'SR'}
    # good: errors 0, 3, 3, ... all <= 20 px -> 100; bad: 25+ px off -> 0 at 20 px.
    assert data['trackers']['good']['PR'] == 100 and data['trackers']['bad']['PR'] == 0
    for name in ('success_plot', 'precision_plot', 'attributes/LI_success_plot'):
        assert (tmp_path / 'plots' / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / 'plots' / f"{name}.pdf").is_file()
    assert (tmp_path / 'out.csv').read_text().startswith('tracker,PR,SR,frames,sequences')


def test_cli_reports_missing_results_by_name(tmp_path, capsys):
    root = tmp_path / 'rgbt234'
    (root / 'seqA').mkdir(parents=True)
    for file in ('visible.txt', 'infrared.txt'):
        (root / 'seqA' / file).write_text('10,10,20,20\n')
    (tmp_path / 'empty_results').mkdir()
    code = run_analysis.main(['--dataset', 'rgbt234', '--dataset-root', str(root),
                              '--results', f"none={tmp_path / 'empty_results'}"])
    assert code == 1
    assert 'seqA.txt' in capsys.readouterr().err


def test_polygon_results_become_rounded_rectangles():
    from pytracking.analysis.results import corners_to_rect
    polygon = np.array([[10.4, 20.6, 50.2, 20.6, 50.2, 80.9, 10.4, 80.9]])      # TL, TR, BR, BL
    np.testing.assert_array_equal(corners_to_rect(polygon), [[10, 21, 40, 60]])


def test_radar_chart_values_are_the_per_attribute_scores(tmp_path):
    from pytracking.analysis.plot_results import radar_values
    seqs = [sequence('a', [[0, 0, 10, 10]] * 2, attributes=('LI', 'TC')),
            sequence('b', [[0, 0, 10, 10]] * 2, attributes=('TC',)),
            sequence('c', [[0, 0, 10, 10]] * 2, attributes=('FM',))]
    miss = [[0, 0, 10, 10], [80, 80, 10, 10]]                   # frame 1 right, frame 2 far off
    preds = {'Good': {'a': [[0, 0, 10, 10]] * 2, 'b': miss, 'c': [[0, 0, 10, 10]] * 2},
             'Bad': {'a': miss, 'b': miss, 'c': miss}}
    evaluation = evaluate('rgbt234', seqs, [results(n, p) for n, p in preds.items()])
    attributes, values = radar_values(evaluation, 'PR')
    assert attributes == ['FM', 'LI', 'TC']                      # the benchmark's order, only those present
    # PR per attribute: mean over its sequences of the fraction of frames within 20 px.
    assert list(values) == ['Good', 'Bad'] and values['Good'] == [100, 100, 75] and values['Bad'] == [50, 50, 50]
    written = plot_results(evaluation, tmp_path, plot_types=('prec',))
    assert tmp_path / 'attributes' / 'radar_PR.png' in written
    assert (tmp_path / 'attributes' / 'radar_PR.png').stat().st_size > 10000
    two = evaluate('rgbt234', seqs[:2], [results('Good', {k: preds['Good'][k] for k in 'ab'})])
    assert not any('radar' in p.name for p in plot_results(two, tmp_path / 'two', plot_types=('prec',)))


@needs_shared
def test_scoring_imports_neither_torch_nor_a_network(lasher_root, tmp_path):
    """run_analysis scores text files: with torch made unimportable it still scores the 15 LasHeR
    trackers, and no network module is loaded on the way."""
    import subprocess
    import sys
    arguments = ['--dataset', 'lasher', '--dataset-root', str(lasher_root), '--json', str(tmp_path / 'scores.json')]
    for tracker in sorted(os.listdir(RAW / 'lasher_test')):
        arguments += ['--results', f"{tracker}={RAW / 'lasher_test' / tracker}"]
    script = ("import sys; sys.modules['torch'] = None\n"
              "from pytracking import run_analysis\n"
              f"code = run_analysis.main({arguments!r})\n"
              "loaded = [m for m in sys.modules if m.startswith(('ltr.models', 'rgbt.nets', 'pytracking.tracker', 'torch'))"
              " and sys.modules[m] is not None]\n"
              "assert not loaded, loaded\n"
              "sys.exit(code)\n")
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    scores = json.loads((tmp_path / 'scores.json').read_text())['trackers']
    assert len(scores) == 14 and round(scores['mfDiMP']['SR'], 1) == 34.3
