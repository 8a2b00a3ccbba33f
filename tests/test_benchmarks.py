"""Benchmark readers on trees built from the real annotation files, and their error messages."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ltr.data.image_loader import ImageReadError, imread_rgb
from pytracking.evaluation.datasets import get_dataset
from rgbt import benchmarks
from rgbt.benchmarks import GTOT, RGBT210, RGBT234, AnnotationError, LasHeR, read_boxes

from conftest import SHARED

ANNOTATIONS = SHARED / 'data' / 'benchmark_annotations'
needs_annotations = pytest.mark.skipif(not ANNOTATIONS.is_dir(), reason=f"{ANNOTATIONS} not present")


def write_tiny_frames(folder: Path, names):
    folder.mkdir(parents=True, exist_ok=True)
    image = np.zeros((6, 8, 3), np.uint8)
    for name in names:
        cv2.imwrite(str(folder / name), image)


def raw_rows(path: Path):
    """Independent parser for checks: universal newlines, any of , tab space."""
    text = path.read_text()
    return [[float(v) for v in line.replace(',', ' ').split()] for line in text.splitlines() if line.strip()]


@pytest.fixture(scope='module')
def gtot_root(tmp_path_factory):
    if not ANNOTATIONS.is_dir():
        pytest.skip('shared data absent')
    root = tmp_path_factory.mktemp('GTOT')
    names = ['BlackCar', 'carNig', 'OccCar-1']
    for name in names:
        shutil.copytree(ANNOTATIONS / 'GTOT' / 'groundtruth' / name, root / name)
    rows = len(raw_rows(root / 'BlackCar' / 'groundTruth_v.txt'))
    write_tiny_frames(root / 'BlackCar' / 'v', [f"{i:05d}v.png" for i in range(1, rows + 1)])
    write_tiny_frames(root / 'BlackCar' / 'i', [f"{i:05d}i.bmp" for i in range(1, rows + 1)])
    (root / 'SequencesName.txt').write_text('\n'.join(names))
    return root


@needs_annotations
def test_gtot_corners_become_ltwh_per_modality(gtot_root):
    benchmark = GTOT(gtot_root)
    assert benchmark.sequence_names() == ['BlackCar', 'carNig', 'OccCar-1']
    sequence = benchmark.load_sequence('BlackCar', require_frames=True)
    v = np.array(raw_rows(gtot_root / 'BlackCar' / 'groundTruth_v.txt'))
    i = np.array(raw_rows(gtot_root / 'BlackCar' / 'groundTruth_i.txt'))
    np.testing.assert_array_equal(sequence.gt_rgb, np.c_[v[:, :2], v[:, 2:] - v[:, :2]])
    np.testing.assert_array_equal(sequence.gt_tir, np.c_[i[:, :2], i[:, 2:] - i[:, :2]])
    # init.txt is the visible ground truth with w = x2 - x1 (no +1).
    np.testing.assert_array_equal(sequence.gt_rgb, np.array(raw_rows(gtot_root / 'BlackCar' / 'init.txt')))
    assert sequence.rgb_frames[0].endswith('00001v.png') and sequence.tir_frames[-1].endswith('i.bmp')
    assert len(sequence.rgb_frames) == len(sequence)
    # Annotation-only sequences load without frames.
    assert benchmark.load_sequence('carNig').rgb_frames == []
    with pytest.raises(FileNotFoundError, match='carNig'):
        benchmark.load_sequence('carNig', require_frames=True)


@pytest.fixture(scope='module')
def rgbt234_root(tmp_path_factory):
    if not ANNOTATIONS.is_dir():
        pytest.skip('shared data absent')
    root = tmp_path_factory.mktemp('RGBT234')
    for name in ('afterrain', 'kite2', 'orangeman1', 'blackwoman'):
        seq = root / name
        seq.mkdir()
        for file in ('visible.txt', 'infrared.txt', 'init.txt'):
            shutil.copy(ANNOTATIONS / 'RGBT234' / 'rgbt234_gt' / name / file, seq / file)
    shutil.copytree(ANNOTATIONS / 'RGBT234' / 'attr_txt', root / 'attr_txt')
    return root


@needs_annotations
def test_rgbt234_boxes_attributes_and_bare_cr_lines(rgbt234_root):
    benchmark = RGBT234(rgbt234_root)
    # The attribute index lists all 234 names in its own (not alphabetical) order.
    assert benchmark.sequence_names()[:3] == ['blackwoman', 'car3', 'car4']
    kite2 = benchmark.load_sequence('kite2')
    assert len(kite2.gt_tir) == len(raw_rows(rgbt234_root / 'kite2' / 'infrared.txt'))   # the bare-CR line splits
    np.testing.assert_array_equal(kite2.gt_rgb, raw_rows(rgbt234_root / 'kite2' / 'visible.txt'))
    afterrain = benchmark.load_sequence('afterrain')
    np.testing.assert_array_equal(afterrain.gt_rgb[0], [144, 53, 10, 80])     # visible.txt, not init.txt
    assert not np.array_equal(afterrain.gt_rgb, afterrain.gt_tir)
    attributes = benchmark.attributes()
    assert len(attributes) == 234
    counts = {a: sum(a in v for v in attributes.values()) for a in benchmarks.RGBT234_ATTRIBUTES}
    assert counts == {'BC': 54, 'CM': 89, 'DEF': 76, 'FM': 32, 'HO': 96, 'LI': 63, 'LR': 50, 'MB': 55, 'NO': 41,
                      'PO': 96, 'SC': 120, 'TC': 28}
    assert kite2.attributes == attributes['kite2']


@needs_annotations
def test_rgbt210_single_ground_truth_and_attribute_subset(tmp_path):
    for name in ('car10', 'child4', 'aftertree'):
        (tmp_path / name).mkdir()
        shutil.copy(ANNOTATIONS / 'RGBT210' / 'groundtruth' / name / 'init.txt', tmp_path / name / 'init.txt')
    shutil.copytree(ANNOTATIONS / 'RGBT210' / 'attr_txt', tmp_path / 'attr_txt')
    (tmp_path / 'SequencesName.txt').write_text('car10\r\nchild4\r\naftertree\r\n')
    benchmark = RGBT210(tmp_path)
    assert benchmark.sequence_names() == ['car10', 'child4', 'aftertree']
    car10 = benchmark.load_sequence('car10')
    np.testing.assert_array_equal(car10.gt_rgb, car10.gt_tir)
    assert (~car10.target_visible()).sum() == 1                          # the one 0,0,0,0 frame
    assert len(benchmark.load_sequence('aftertree')) == len(raw_rows(tmp_path / 'aftertree' / 'init.txt'))
    assert set(benchmark.attributes()['car10']) <= set(benchmarks.RGBT234_ATTRIBUTES)


@pytest.fixture(scope='module')
def lasher_root(tmp_path_factory):
    if not ANNOTATIONS.is_dir():
        pytest.skip('shared data absent')
    root = tmp_path_factory.mktemp('LasHeR')
    official = ANNOTATIONS / 'LasHeR' / 'official'
    for split_dir, list_name, names in (('testingset', 'testingsetList.txt', ["leftgirl'swhitebag", '10runone']),
                                         ('trainingset', 'trainingsetList.txt', ["comingboy'shead", 'cameraman_1202'])):
        shutil.copy(official / list_name, root / list_name)
        for name in names:
            seq = root / split_dir / name
            seq.mkdir(parents=True)
            shutil.copy(ANNOTATIONS / 'LasHeR' / 'lasher_gt' / f"{name}.txt", seq / 'init.txt')
    shutil.copytree(ANNOTATIONS / 'LasHeR' / 'AttriSeqsTxt', root / 'AttriSeqsTxt')
    shutil.copy(ANNOTATIONS / 'LasHeR' / 'Attributes_order.txt', root / 'Attributes_order.txt')
    return root


@needs_annotations
def test_lasher_splits_names_invalid_boxes_and_attributes(lasher_root):
    test, train = LasHeR(lasher_root, 'test'), LasHeR(lasher_root, 'train')
    assert len(test.sequence_names()) == 245 and len(train.sequence_names()) == 979
    assert len(LasHeR(lasher_root, 'all').sequence_names()) == 1224
    girl = test.load_sequence("leftgirl'swhitebag")
    np.testing.assert_array_equal(girl.gt_rgb[0], [0, 367, 70, 39])
    assert girl.attributes and set(girl.attributes) <= set(benchmarks.LASHER_ATTRIBUTES)
    flags = (ANNOTATIONS / 'LasHeR' / 'AttriSeqsTxt' / '10runone.txt').read_text().split(',')
    order = [a.strip() for a in (ANNOTATIONS / 'LasHeR' / 'Attributes_order.txt').read_text().split(',')]
    assert test.load_sequence('10runone').attributes == tuple(a for a, f in zip(order, flags) if f.strip() == '1')
    assert len(train.load_sequence('cameraman_1202')) > 0                  # no visible.txt: init.txt is read


def test_packaged_lasher_lists_equal_the_official_split():
    official = ANNOTATIONS / 'LasHeR' / 'official'
    if not official.is_dir():
        pytest.skip('shared data absent')
    for packaged, list_name in (('lasher_test.txt', 'testingsetList.txt'), ('lasher_train.txt', 'trainingsetList.txt')):
        assert set(benchmarks.read_name_list(benchmarks.DATA_SPECS / packaged)) == \
            set(benchmarks.read_name_list(official / list_name))


def test_lasher_flat_folder_irregular_frame_names(tmp_path):
    seq = tmp_path / "girl'sbag"
    seq.mkdir()
    (seq / 'init.txt').write_text('1,2,3,4\r\n5,6,7,8\r\n9,10,11,12\r\n13,14,15,16\r\n')
    write_tiny_frames(seq / 'visible', ['v2.jpg', 'v10.jpg', 'v0.jpg', 'v1.jpg'])
    write_tiny_frames(seq / 'infrared', ['i000.jpg', 'i001.jpg', 'i010.jpg', 'i002.jpg'])
    sequence = LasHeR(tmp_path, 'all').load_sequence("girl'sbag", require_frames=True)
    assert [Path(p).name for p in sequence.rgb_frames] == ['v0.jpg', 'v1.jpg', 'v2.jpg', 'v10.jpg']
    assert [Path(p).name for p in sequence.tir_frames] == ['i000.jpg', 'i001.jpg', 'i002.jpg', 'i010.jpg']


# --- malformed input ---------------------------------------------------------------------------


def make_rgbt234_sequence(root: Path, rows: str, rgb_frames: int, tir_frames: int) -> Path:
    seq = root / 'seq'
    seq.mkdir(parents=True)
    for name in ('visible.txt', 'infrared.txt', 'init.txt'):
        (seq / name).write_text(rows)
    write_tiny_frames(seq / 'visible', [f"{i:05d}v.jpg" for i in range(1, rgb_frames + 1)])
    write_tiny_frames(seq / 'infrared', [f"{i:05d}i.jpg" for i in range(1, tir_frames + 1)])
    return seq


def test_missing_root_and_sequence_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match='no_such_root'):
        RGBT234(tmp_path / 'no_such_root')
    with pytest.raises(FileNotFoundError, match='ghost'):
        RGBT234(tmp_path).load_sequence('ghost')


def test_unparsable_line_names_file_and_line(tmp_path):
    make_rgbt234_sequence(tmp_path, '1,2,3,4\r\n5,6,x,8\r\n', 2, 2)
    with pytest.raises(AnnotationError, match=r"visible\.txt, line 2: cannot parse '5,6,x,8'"):
        RGBT234(tmp_path).load_sequence('seq')


def test_wrong_column_count_names_line(tmp_path):
    path = tmp_path / 'boxes.txt'
    path.write_text('1 2 3 4\n1 2 3\n')
    with pytest.raises(AnnotationError, match='line 2: expected 4 values, got 3'):
        read_boxes(path)


def test_unequal_frame_counts(tmp_path):
    make_rgbt234_sequence(tmp_path, '1,2,3,4\n' * 3, 3, 2)
    with pytest.raises(AnnotationError, match='3 frames in visible/ but 2 in infrared/'):
        RGBT234(tmp_path).load_sequence('seq', require_frames=True)


def test_fewer_boxes_than_frames(tmp_path):
    make_rgbt234_sequence(tmp_path, '1,2,3,4\n' * 2, 3, 3)
    with pytest.raises(AnnotationError, match=r'visible\.txt: 2 boxes for 3 frames'):
        RGBT234(tmp_path).load_sequence('seq', require_frames=True)


def test_more_boxes_than_frames(tmp_path):
    make_rgbt234_sequence(tmp_path, '1,2,3,4\n' * 4, 3, 3)
    with pytest.raises(AnnotationError, match='3 frames but 4 boxes'):
        RGBT234(tmp_path).load_sequence('seq', require_frames=True)


def test_missing_and_corrupt_images_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.jpg'):
        imread_rgb(tmp_path / 'nothing.jpg')
    for name in ('broken.jpg', 'broken.png'):
        (tmp_path / name).write_bytes(b'\xff\xd8\xff\xe0 not really an image')
        with pytest.raises(ImageReadError, match=name):
            imread_rgb(tmp_path / name)


def test_grey_image_is_replicated_to_rgb(tmp_path):
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8)
    cv2.imwrite(str(tmp_path / 'g.png'), grey)
    image = imread_rgb(tmp_path / 'g.png')
    assert image.shape == (6, 8, 3)
    np.testing.assert_array_equal(image[:, :, 1], grey)


@needs_annotations
def test_registry_reads_configured_path(rgbt234_root, monkeypatch):
    monkeypatch.setenv('RGBT234_PATH', str(rgbt234_root))
    # The attribute index lists 234 names but only 4 folders exist here: the error names the missing one.
    with pytest.raises(FileNotFoundError, match='car3'):
        get_dataset('rgbt234')
    (rgbt234_root / 'SequencesName.txt').write_text('kite2\nafterrain\n')
    try:
        sequences = get_dataset('rgbt234')
    finally:
        (rgbt234_root / 'SequencesName.txt').unlink()
    assert [s.name for s in sequences] == ['kite2', 'afterrain']
    assert sequences['afterrain'].ground_truth_tir.shape == sequences['afterrain'].ground_truth_rect.shape
    assert sequences['kite2'].attributes
