"""A missing or dropped modality: the reader's policies, the seeded drop-out simulation, the
tracker and run_tracker under drop-out, and modality drop-out in training."""
import json

import cv2
import numpy as np
import pytest
import torch

from ltr.admin.loading import save_network
from ltr.data.image_loader import ImageReadError
from ltr.data.processing import RGBTDiMPProcessing
from pytracking import run_analysis, run_tracker
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker
from pytracking.utils.missing_modality import ModalityGuard, parse_simulation, simulated_drop_out
from rgbt.nets import cmd_student
from rgbt.synthetic import SequenceSpec, generate_benchmark


def write_frames(folder, values, size=(24, 32)):
    """One PNG per value (a flat grey image of that value; None: no file)."""
    paths = []
    folder.mkdir(parents=True, exist_ok=True)
    for index, value in enumerate(values):
        path = folder / f"{index:04d}.png"
        if value is not None:
            image = np.full(size + (3,), value, np.uint8)
            image[0, 0] = 255 - value                         # not blank
            cv2.imwrite(str(path), image)
        paths.append(str(path))
    return paths


@pytest.fixture
def frame_pairs(tmp_path):
    rgb = write_frames(tmp_path / 'rgb', [10, 20, 30, 40])
    tir = write_frames(tmp_path / 'tir', [50, 60, None, 80])          # frame 2's thermal image is missing
    blank = np.zeros((24, 32, 3), np.uint8)
    cv2.imwrite(tir[3], blank)                                          # frame 3's is blank
    return list(zip(rgb, tir))


def read_all(guard, pairs):
    return [guard.read(index, *pair) for index, pair in enumerate(pairs)]


def test_fail_policy_names_the_missing_file_and_tracks_a_blank_one(frame_pairs):
    guard = ModalityGuard('fail')
    guard.read(0, *frame_pairs[0])
    guard.read(1, *frame_pairs[1])
    with pytest.raises((ImageReadError, FileNotFoundError), match='0002.png'):
        guard.read(2, *frame_pairs[2])
    assert guard.read(3, *frame_pairs[3])[1].max() == 0 and guard.records == []


def test_hold_policy_reuses_the_last_good_frame_and_records_it(frame_pairs):
    guard = ModalityGuard('hold')
    frames = read_all(guard, frame_pairs)
    assert [int(tir[1, 1, 0]) for _, tir in frames] == [50, 60, 60, 60]       # frames 2 and 3 hold frame 1
    assert [int(rgb[1, 1, 0]) for rgb, _ in frames] == [10, 20, 30, 40]
    assert [(i, m) for i, m, _ in guard.records] == [(2, 'tir'), (3, 'tir')]
    assert guard.records[0][2].startswith('unreadable') and guard.records[1][2] == 'blank'


def test_zeros_policy_feeds_black_images_of_the_right_size(frame_pairs):
    guard = ModalityGuard('zeros')
    frames = read_all(guard, frame_pairs)
    assert frames[2][1].shape == (24, 32, 3) and frames[2][1].max() == 0 and frames[1][1].max() > 0
    assert len(guard.records) == 2


def test_a_missing_first_frame_cannot_start_tracking(tmp_path):
    rgb = write_frames(tmp_path / 'rgb', [10])
    tir = write_frames(tmp_path / 'tir', [None])
    with pytest.raises(ImageReadError, match="first frame's tir image is unreadable"):
        ModalityGuard('hold').read(0, rgb[0], tir[0])
    with pytest.raises(ValueError, match='missing_modality must be one of'):
        ModalityGuard('skip')


def test_simulated_drop_out_is_seeded_exact_and_spares_the_first_frame():
    mask = simulated_drop_out(101, 'tir', 0.3, segment_length=20, seed=4)
    assert mask.sum() == 30 and not mask[0]
    assert np.array_equal(mask, simulated_drop_out(101, 'tir', 0.3, segment_length=20, seed=4))
    assert not np.array_equal(mask, simulated_drop_out(101, 'tir', 0.3, segment_length=20, seed=5))
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(int), [0])))))[::2]
    assert runs.max() <= 20                                      # segments of at most 20 frames
    assert simulated_drop_out(101, 'rgb', 0.0).sum() == 0
    assert parse_simulation('tir:0.3') == ('tir', 0.3)
    with pytest.raises(ValueError, match='MODALITY:RATE'):
        parse_simulation('0.3')
    with pytest.raises(ValueError, match='rgb or tir'):
        parse_simulation('depth:0.3')


@pytest.fixture(scope='module')
def small_benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp('missing')
    torch.manual_seed(0)
    save_network(cmd_student(backbone_pretrained=False), root / 'net.pth.tar', settings={'output_sz': 128})
    generate_benchmark(root / 'syn', 'rgbt234', {'train': 1, 'test': 1}, SequenceSpec(num_frames=11, width=128,
                                                                                       height=96), seed=1,
                       progress=False)
    return root


def test_tracker_holds_a_dropped_thermal_frame_and_writes_the_missing_file(small_benchmark, tmp_path, monkeypatch):
    import shutil
    data = tmp_path / 'syn'
    shutil.copytree(small_benchmark / 'syn', data)
    (data / 'test' / 'test000' / 'infrared' / '00005i.jpg').unlink()
    (data / 'test' / 'test000' / 'infrared' / '00005i.jpg').write_bytes(b'')        # an empty file: unreadable
    sequences = get_dataset('synthetic', root=data, require_frames=True)
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(small_benchmark / 'net.pth.tar'),
                      results_dir=tmp_path / 'results')
    params = tracker.get_parameters()
    params.missing_modality = 'hold'
    output = tracker.run_sequence(sequences[0], params=params)
    assert len(output['target_bbox']) == 11 and [(i, m) for i, m, _ in output['missing']] == [(4, 'tir')]
    monkeypatch.setattr(Tracker, 'get_parameters', lambda self, debug=0: params)
    run_dataset(sequences, [tracker])
    lines = (tmp_path / 'results' / 'test000_missing.txt').read_text().splitlines()
    assert lines[0].startswith('# frame') and lines[1].startswith('4\ttir\tunreadable')


def test_run_tracker_simulates_drop_out_into_its_own_results_folder(small_benchmark, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('SYNTHETIC_PATH', str(small_benchmark / 'syn'))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path))
    assert run_tracker.main(['cmd_student', 'synthetic', '--net', str(small_benchmark / 'net.pth.tar'),
                             '--simulate-missing', 'tir:0.3']) == 0
    folder = tmp_path / 'cmd_student' / 'synthetic_missing_tir0.3'
    assert np.loadtxt(folder / 'test000.txt', delimiter='\t').shape == (11, 4)
    frames = [int(line.split('\t')[0]) for line in (folder / 'test000_missing.txt').read_text().splitlines()[1:]]
    assert len(frames) == 3 and 0 not in frames                     # 30% of the 10 frames after the first
    assert not (tmp_path / 'cmd_student' / 'synthetic').exists()
    # The analysis says the run was a drop-out run: the frames of every <seq>_missing.txt, counted.
    recorded = sum(len(p.read_text().splitlines()) - 1 for p in folder.glob('*_missing.txt'))
    capsys.readouterr()
    assert run_analysis.main(['--dataset', 'synthetic', '--dataset-root', str(small_benchmark / 'syn'),
                              '--results', f'drop={folder}', '--json', str(tmp_path / 'scores.json')]) == 0
    assert f"note: drop tracked {recorded} of " in capsys.readouterr().out and recorded >= 3
    assert json.loads((tmp_path / 'scores.json').read_text())['trackers']['drop']['frames_without_a_modality'] == recorded
    with pytest.raises(SystemExit, match='MODALITY:RATE'):
        run_tracker.main(['cmd_student', 'synthetic', '--simulate-missing', 'half'])


def test_training_modality_drop_out_blanks_or_holds_test_frames_only():
    frame = lambda v: np.full((8, 8, 3), v, np.uint8)        # noqa: E731
    data = {'train_rgb': [frame(1)], 'train_tir': [frame(2)], 'test_rgb': [frame(3)] * 200,
            'test_tir': [frame(4)] * 200}
    blank = RGBTDiMPProcessing(modality_dropout=0.5).drop_modalities(data, np.random.default_rng(0))
    dropped = [(int(r[0, 0, 0]), int(t[0, 0, 0])) for r, t in zip(blank['test_rgb'], blank['test_tir'])]
    assert set(dropped) == {(3, 4), (0, 4), (3, 0)}                 # one modality at most, never both
    assert 70 <= sum(d != (3, 4) for d in dropped) <= 130           # about half of 200
    assert blank['train_rgb'][0][0, 0, 0] == 1 and data['test_rgb'][0][0, 0, 0] == 3     # input untouched
    hold = RGBTDiMPProcessing(modality_dropout=1.0, modality_dropout_mode='hold').drop_modalities(
        data, np.random.default_rng(0))
    assert {(int(r[0, 0, 0]), int(t[0, 0, 0])) for r, t in zip(hold['test_rgb'], hold['test_tir'])} == {(1, 4), (3, 2)}
    assert RGBTDiMPProcessing().drop_modalities(data, np.random.default_rng(0)) is data     # off by default
