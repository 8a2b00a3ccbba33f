"""VTUAV: the layout (sparse annotation every 10th frame), its errors, the scoring of annotated
frames only, and the real bus1 sequence (skipped without ../shared/data)."""
import os
import shutil

import numpy as np
import torch
import pytest

from conftest import SHARED
from pytracking.analysis import evaluate
from pytracking.analysis.results import TrackerResults
from rgbt.benchmarks import VTUAV, AnnotationError, RGBTSequence, Synthetic
from rgbt.synthetic.generator import SequenceSpec, _clip_box, generate_benchmark, render_sequence

SPEC = SequenceSpec(num_frames=25, width=96, height=80)
BUS1 = SHARED / 'data' / 'vtuav_bus1'


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp('vtuav'), 'vtuav', {'train': 1, 'test': 2}, SPEC, seed=7,
                              progress=False)


def test_generated_layout_reads_back_sparse_boxes_at_every_tenth_frame(generated):
    assert sorted(p.name for p in generated.iterdir()) == ['synthetic.json', 'test_ST', 'train_ST']
    assert len((generated / 'test_ST' / 'test000' / 'rgb.txt').read_text().split()) == 3 * 4      # frames 0, 10, 20
    for index, sequence in enumerate(VTUAV(generated, 'test_ST').sequences(require_frames=True)):
        _, _, gt_rgb, gt_tir, _ = render_sequence(np.random.default_rng([7, 0, index]), SPEC)
        assert len(sequence) == len(sequence.rgb_frames) == len(sequence.tir_frames) == 25
        annotated = np.flatnonzero(np.isfinite(sequence.gt_rgb).all(axis=1))
        assert annotated.tolist() == [0, 10, 20]
        np.testing.assert_array_equal(sequence.gt_rgb[annotated], [_clip_box(gt_rgb[f], 96, 80) for f in (0, 10, 20)])
        np.testing.assert_array_equal(sequence.gt_tir[annotated], [_clip_box(gt_tir[f], 96, 80) for f in (0, 10, 20)])
        assert sequence.rgb_frames[12].endswith('rgb/000012.jpg') and sequence.tir_frames[12].endswith('ir/000012.jpg')
    assert [s.name for s in Synthetic(generated, 'train').sequences()] == ['train000']
    assert Synthetic(generated, 'test').protocol == 'vtuav'


def copy_sequence(generated, tmp_path, split='test_ST'):
    target = tmp_path / split / 'seq'
    shutil.copytree(generated / 'test_ST' / 'test000', target)
    return target


def test_bad_vtuav_files_are_named(generated, tmp_path):
    seq = copy_sequence(generated, tmp_path)
    (seq / 'ir.txt').write_text('1 2 3 4\n')
    with pytest.raises(AnnotationError, match=r'3 boxes in rgb.txt but 1 in ir.txt'):
        VTUAV(tmp_path).load_sequence('seq')
    (seq / 'ir.txt').write_text((seq / 'rgb.txt').read_text() + '1 2 3 4\n')
    (seq / 'rgb.txt').write_text((seq / 'rgb.txt').read_text() + '1 2 3 4\n')
    with pytest.raises(AnnotationError, match=r'rgb.txt: 4 boxes .* need at least 31 frames, .* has 25'):
        VTUAV(tmp_path).load_sequence('seq')
    with pytest.raises(FileNotFoundError, match='test_LT does not exist'):
        VTUAV(tmp_path, 'test_LT').sequence_names()
    with pytest.raises(ValueError, match='VTUAV split must be one of'):
        VTUAV(tmp_path, 'val')


def test_absence_label_and_the_ir_gray_folder(generated, tmp_path):
    seq = copy_sequence(generated, tmp_path)
    os.rename(seq / 'ir', seq / 'ir_gray')                        # the distributed demo sequence's name
    (seq / 'absence.label').write_text('0\n1\n0\n')
    sequence = VTUAV(tmp_path).load_sequence('seq', require_frames=True)
    assert sequence.tir_frames[0].endswith('ir_gray/000000.jpg')
    assert np.flatnonzero(np.isfinite(sequence.gt_rgb).all(axis=1)).tolist() == [0, 20]       # frame 10 absent
    (seq / 'absence.label').write_text('0\n2\n')
    with pytest.raises(AnnotationError, match='absence.label: expected 3 lines of 0 or 1'):
        VTUAV(tmp_path).load_sequence('seq')


def sparse_sequence(name, boxes_rgb, boxes_tir, frames):
    gt_rgb, gt_tir = np.full((frames, 4), np.nan), np.full((frames, 4), np.nan)
    gt_rgb[::10], gt_tir[::10] = boxes_rgb, boxes_tir
    return RGBTSequence(name, 'vtuav', gt_rgb, gt_tir)


def test_vtuav_protocol_scores_annotated_frames_only_best_of_both_modalities():
    # 21 frames, annotated 0, 10, 20. The tracker follows the RGB box at frame 0, the TIR box at
    # frame 10 (60 px from the RGB one), misses at frame 20, and is far off on every other frame.
    rgb = np.array([[10, 10, 20, 20], [10, 10, 20, 20], [10, 10, 20, 20]], float)
    tir = np.array([[12, 10, 20, 20], [70, 10, 20, 20], [12, 10, 20, 20]], float)
    pred = np.tile([300.0, 300.0, 20.0, 20.0], (21, 1))
    pred[0], pred[10] = rgb[0], tir[1]
    sequence = sparse_sequence('s', rgb, tir, 21)
    evaluation = evaluate('vtuav', [sequence], [TrackerResults('T', None, '', {'s': pred})])
    scores = evaluation.trackers['T']['scores']
    assert evaluation.trackers['T']['frames'] == 3
    assert scores['PR'] == pytest.approx(100 * 2 / 3)                   # frames 0 and 10 within 20 px
    assert scores['SR'] == pytest.approx(100 * 2 / 3 * 20 / 21)          # IoU 1 passes 20 of 21 thresholds (>)
    assert scores['NPR'] == pytest.approx(100 * 2 / 3)


@pytest.mark.skipif(not BUS1.is_dir(), reason=f"{BUS1} not present")
def test_real_bus1_sequence_reads_with_its_sparse_boxes(tmp_path):
    (tmp_path / 'test_ST').mkdir()
    (tmp_path / 'test_ST' / 'bus1').symlink_to(BUS1.resolve())
    sequence = VTUAV(tmp_path).load_sequence('bus1', require_frames=True)
    assert len(sequence) == 101 and sequence.tir_frames[0].endswith('ir_gray/000000.jpg')
    assert np.flatnonzero(np.isfinite(sequence.gt_rgb).all(axis=1)).tolist() == list(range(0, 101, 10))
    assert sequence.gt_rgb[0].tolist() == [585, 94, 66, 83] and sequence.gt_tir[0].tolist() == [582, 88, 67, 80]


def test_training_dataset_marks_unannotated_frames_not_visible(generated):
    from ltr.dataset import VTUAV as VTUAVTraining
    dataset = VTUAVTraining(generated, split='train_ST')
    info = dataset.get_sequence_info(0)
    assert torch.flatten(torch.nonzero(info['visible'])).tolist() == [0, 10, 20]
    rgb, tir, anno, meta = dataset.get_frames(0, [10])
    assert rgb[0].shape == (80, 96, 3) and torch.isfinite(anno['bbox'][0]).all()


def test_optional_attribute_files_give_per_attribute_scores(generated, tmp_path):
    split = tmp_path / 'test_ST'
    shutil.copytree(generated / 'test_ST', split)
    (split / 'attr_txt').mkdir()
    (split / 'attr_txt' / 'SequencesName.txt').write_text('test000\ntest001\n')
    (split / 'attr_txt' / 'FM.txt').write_text('1\n0\n')
    (split / 'attr_txt' / 'LI.txt').write_text('1\n1\n')
    sequences = VTUAV(tmp_path).sequences()
    assert [s.name for s in sequences] == ['test000', 'test001']           # attr_txt is not a sequence
    assert [s.attributes for s in sequences] == [('FM', 'LI'), ('LI',)]
    preds = {s.name: np.nan_to_num(s.gt_rgb, nan=1.0) for s in sequences}
    evaluation = evaluate('vtuav', sequences, [TrackerResults('T', None, '', preds)])
    assert set(evaluation.per_attribute) == {'FM', 'LI'} and evaluation.per_attribute['FM']['T']['sequences'] == 1
    assert evaluation.per_attribute['LI']['T']['scores']['PR'] == 100.0
