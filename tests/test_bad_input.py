"""Hostile and broken inputs (issue: trust and bad input): each reproduces the bad input and asserts
the clear error or the documented policy."""
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ltr.admin import loading
from ltr.data import image_loader
from ltr.data.image_loader import ImageReadError, imread_rgb, read_frame_pair
from ltr.data.sampler import RGBTDiMPSampler
from ltr.trainers.ltr_trainer import is_transient
from pytracking.analysis.results import read_result_file, load_tracker_results
from rgbt.benchmarks import AnnotationError, read_boxes, read_text_lines

REPO = Path(__file__).resolve().parents[1]


# ---- 1. A plain-data checkpoint must not name arbitrary functions ----

class _WritesMarker:
    """Unpickling this runs os.system: the payload of a hostile legacy pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _plain_checkpoint(path, fun_module, fun_name, args=(), kwds=None):
    torch.save({'net': {}, 'constructor': {'fun_module': fun_module, 'fun_name': fun_name,
                                           'args': list(args), 'kwds': kwds or {}}}, path)
    return path


def test_constructor_chaining_to_a_legacy_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned_by_pickle'
    evil_pickle = tmp_path / 'evil.pth'
    with open(evil_pickle, 'wb') as handle:
        pickle.dump({'net': _WritesMarker(marker)}, handle)
    path = _plain_checkpoint(tmp_path / 'net.pth.tar', 'ltr.admin.loading', 'load_network', [str(evil_pickle)],
                             {'allow_legacy_pickle': True})
    with pytest.raises(loading.CheckpointError) as err:
        loading.load_network(path)
    assert str(path) in str(err.value) and 'ltr.admin.loading.load_network' in str(err.value)
    assert 'not one of this package' in str(err.value)
    assert not marker.exists()


def test_constructor_naming_torch_hub_is_refused_also_from_the_command_line(tmp_path):
    marker = tmp_path / 'pwned_by_hubconf'
    hub_dir = tmp_path / 'hub'
    hub_dir.mkdir()
    (hub_dir / 'hubconf.py').write_text(f"open({str(marker)!r}, 'w').close()\ndef net():\n    return None\n")
    path = _plain_checkpoint(tmp_path / 'net.pth.tar', 'torch.hub', 'load', [str(hub_dir), 'net'], {'source': 'local'})
    with pytest.raises(loading.CheckpointError, match='torch.hub.load'):
        loading.load_network(path)
    assert not marker.exists()
    # As a user would pass it: --net on the command line.
    for modality in ('rgb', 'tir'):
        (tmp_path / modality).mkdir()
        cv2.imwrite(str(tmp_path / modality / '0001.png'), np.zeros((32, 32, 3), np.uint8))
        cv2.imwrite(str(tmp_path / modality / '0002.png'), np.zeros((32, 32, 3), np.uint8))
    run = subprocess.run([sys.executable, 'pytracking/run_video.py', 'cmd_student', '--rgb', str(tmp_path / 'rgb'),
                          '--tir', str(tmp_path / 'tir'), '--init', '4,4,8,8', '--net', str(path)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and 'torch.hub.load' in run.stderr and 'not one of this package' in run.stderr
    assert not marker.exists()


def test_registered_builder_with_non_plain_arguments_is_refused(tmp_path):
    path = tmp_path / 'net.pth.tar'
    torch.save({'net': {}, 'constructor': {'fun_module': 'rgbt.nets', 'fun_name': 'cmd_student', 'args': [],
                                           'kwds': {'fusion': torch.zeros(2)}}}, path)
    with pytest.raises(loading.CheckpointError, match='Tensor, not plain data'):
        loading.load_network(path)


def test_untrusted_module_is_never_imported(tmp_path, monkeypatch):
    module_file = tmp_path / 'sneaky_module.py'
    module_file.write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef build(**kw):\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _plain_checkpoint(tmp_path / 'net.pth.tar', 'sneaky_module', 'build')
    with pytest.raises(loading.CheckpointError, match='sneaky_module.build'):
        loading.load_network(path)
    assert not (tmp_path / 'imported').exists()


# ---- 2. Truncated JPEGs, whichever decoder ----

def _truncated_jpeg(tmp_path, name='cut.jpg'):
    path = tmp_path / name
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    cv2.imwrite(str(path), image)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


@pytest.mark.parametrize('decoder', ['jpeg4py', 'opencv'])
def test_truncated_jpeg_is_an_error_naming_the_file(tmp_path, monkeypatch, decoder):
    if decoder == 'opencv':
        monkeypatch.setattr(image_loader, '_jpeg4py_checked', True)
        monkeypatch.setattr(image_loader, '_jpeg4py', None)
    elif image_loader._jpeg4py_module() is None:
        pytest.skip('jpeg4py or libturbojpeg not installed')
    path = _truncated_jpeg(tmp_path)
    with pytest.raises(ImageReadError, match='truncated') as err:
        imread_rgb(str(path))
    assert str(path) in str(err.value)
    whole = tmp_path / 'whole.jpg'
    cv2.imwrite(str(whole), np.zeros((8, 8, 3), np.uint8))
    assert imread_rgb(str(whole)).shape == (8, 8, 3)


class _ListDataset:
    """Two sequences of 30 visible frames; frames of sequence 0 cannot be read."""

    def get_name(self):
        return 'fake'

    def get_num_sequences(self):
        return 2

    def __len__(self):
        return 2

    def get_sequence_info(self, seq_id):
        return {'visible': torch.ones(30, dtype=torch.bool), 'bbox': torch.ones(30, 4)}

    def get_frames(self, seq_id, ids, info):
        if seq_id == 0:
            raise ImageReadError('image /data/seq0/00001.jpg is truncated or corrupt')
        frames = [np.zeros((4, 4, 3), np.uint8)] * len(ids)
        return frames, frames, {'bbox': [info['bbox'][i] for i in ids]}, {'sequence': f'seq{seq_id}'}


def test_training_drops_a_sequence_with_an_unreadable_frame_with_one_warning(caplog):
    sampler = RGBTDiMPSampler([_ListDataset()], None, samples_per_epoch=20, seed=0)
    with caplog.at_level(logging.WARNING, logger='ltr.data.sampler'):
        sequences = [sampler[i]['sequence'] for i in range(20)]
    assert set(sequences) == {'seq1'}
    warnings = [r.getMessage() for r in caplog.records if 'dropped' in r.getMessage()]
    assert len(warnings) == 1 and '/data/seq0/00001.jpg' in warnings[0]


# ---- 3. Rows with the wrong number of values ----

@pytest.mark.parametrize('reader', [read_boxes, read_result_file])
def test_misaligned_rows_are_an_error_naming_file_and_line(tmp_path, reader):
    path = tmp_path / 'boxes.txt'
    path.write_text('10 20 30 40\n50 60 70\n80 90 100 110 120\n')
    with pytest.raises(AnnotationError, match=r'boxes.txt, line 2: expected 4 values, got 3'):
        reader(path)
    path.write_text('10,20,30,40\n50,60,70,80\n')
    np.testing.assert_array_equal(reader(path), [[10, 20, 30, 40], [50, 60, 70, 80]])


# ---- 4. RGB and thermal frames of different sizes ----

def test_frame_pair_of_different_sizes_is_an_error_or_resized(tmp_path, caplog):
    rgb, tir = tmp_path / 'rgb.png', tmp_path / 'tir.png'
    cv2.imwrite(str(rgb), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(tir), np.full((24, 32), 200, np.uint8))
    with pytest.raises(ImageReadError) as err:
        read_frame_pair(str(rgb), str(tir))
    assert str(rgb) in str(err.value) and str(tir) in str(err.value) and '64x48' in str(err.value)
    with caplog.at_level(logging.WARNING, logger='ltr.data.image_loader'):
        for _ in range(3):
            frame_rgb, frame_tir = read_frame_pair(str(rgb), str(tir), resize_tir=True)
    assert frame_rgb.shape == frame_tir.shape == (48, 64, 3) and np.all(frame_tir == 200)
    # The stretch is said once per thermal folder and size, not per frame.
    assert caplog.text.count('are stretched to the RGB size 64x48') == 1 and str(tmp_path) in caplog.text


# ---- 6. Invalid first boxes ----

@pytest.mark.parametrize('box, reason', [([np.nan, 1, 5, 5], 'non-finite'), ([1, 1, np.inf, 5], 'non-finite'),
                                          ([0, 0, 0, 0], 'positive'), ([3, 3, 5, -2], 'positive')])
def test_invalid_first_box_names_sequence_and_box(box, reason):
    from pytracking.evaluation.data import Sequence
    from pytracking.evaluation.tracker import Tracker
    sequence = Sequence('leftgirl', [('a.jpg', 'b.jpg')] * 2, 'lasher', np.array([box, [1, 1, 5, 5]], dtype=float))
    with pytest.raises(ValueError, match=reason) as err:
        Tracker('cmd_student', 'default', net_path='/unused').run_sequence(sequence)
    assert 'leftgirl' in str(err.value)


def test_run_video_rejects_a_nan_init_box(tmp_path, capsys):
    from pytracking import run_video
    for modality in ('rgb', 'tir'):
        (tmp_path / modality).mkdir()
        cv2.imwrite(str(tmp_path / modality / '0001.png'), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb', str(tmp_path / 'rgb'), '--tir', str(tmp_path / 'tir'),
                        '--init', 'nan,1,5,5'])
    assert 'non-finite' in capsys.readouterr().err


# ---- 7. Corrupt checkpoints ----

def test_non_checkpoint_files_say_what_they_are_not(tmp_path):
    text = tmp_path / 'notes.pth.tar'
    text.write_text('these are my notes, not a network\n')
    with pytest.raises(loading.CheckpointError, match='is not a PyTorch checkpoint: it is a text file'):
        loading.load_network(text)
    empty = tmp_path / 'empty.pth.tar'
    empty.write_bytes(b'')
    with pytest.raises(loading.CheckpointError, match='is empty'):
        loading.load_network(empty)
    whole = loading.save_checkpoint({'net': {}, 'epoch': 1}, tmp_path / 'whole.pth.tar')
    cut = tmp_path / 'cut.pth.tar'
    cut.write_bytes(whole.read_bytes()[:200])
    with pytest.raises(loading.CheckpointError, match='truncated or damaged') as err:
        loading.load_network(cut)
    assert str(cut) in str(err.value)
    not_a_network = loading.save_checkpoint({'epoch': 1}, tmp_path / 'stats.pth.tar')
    with pytest.raises(loading.CheckpointError, match='not a network checkpoint'):
        loading.load_network(not_a_network)
    assert 'pickled' not in str(err.value)


# ---- 8. A network of the wrong kind ----

def test_student_given_as_teacher_is_refused_before_any_shape_error(tmp_path):
    from rgbt.nets import cmd_student
    path = loading.save_network(cmd_student(backbone_pretrained=False), tmp_path / 'student.pth.tar')
    with pytest.raises(loading.WrongNetworkError, match=r'holds a cmd_student network, not a teacher \(cmd_teacher\)'):
        loading.load_network(path, expected_kind=('cmd_teacher',), role='teacher')


# ---- 9. The fail-safe retries only what can pass on retry ----

def test_only_transient_errors_are_retried():
    assert is_transient(RuntimeError('DataLoader worker (pid 4242) exited unexpectedly with exit code 1'))
    assert is_transient(RuntimeError('DataLoader worker (pid(s) 17) killed by signal: Killed.'))
    assert is_transient(torch.cuda.OutOfMemoryError('CUDA out of memory'))
    assert not is_transient(RuntimeError('The size of tensor a (4) must match the size of tensor b (3)'))
    assert not is_transient(FileNotFoundError('image /x.jpg does not exist'))
    assert not is_transient(FloatingPointError('non-finite loss nan'))


# ---- 10. Smaller ones ----

def test_utf16_annotation_files_are_read_and_other_encodings_named(tmp_path):
    path = tmp_path / 'init.txt'
    path.write_bytes('1,2,3,4\r\n5,6,7,8\r\n'.encode('utf-16'))
    np.testing.assert_array_equal(read_boxes(path), [[1, 2, 3, 4], [5, 6, 7, 8]])
    path.write_bytes(b'1,2,3,4\n\xff\xfa\xfb\n')
    with pytest.raises(AnnotationError, match='init.txt is not UTF-8 or UTF-16 text'):
        read_text_lines(path)


def test_training_on_sequences_without_valid_boxes_says_why():
    class NoValidBoxes(_ListDataset):
        def get_sequence_info(self, seq_id):
            return {'visible': torch.zeros(30, dtype=torch.bool), 'bbox': torch.zeros(30, 4)}

    sampler = RGBTDiMPSampler([NoValidBoxes()], None, samples_per_epoch=1, seed=0)
    with pytest.raises(RuntimeError, match=r'valid box \(finite, width and height > 0\).*at most 0 valid boxes'):
        sampler[0]


def test_non_finite_result_rows_are_reported_once_per_file(tmp_path, caplog):
    (tmp_path / 'seq.txt').write_text('1,2,3,4\nnan,nan,nan,nan\nnan,nan,nan,nan\n5,6,7,8\n')
    with caplog.at_level(logging.WARNING, logger='pytracking.analysis.results'):
        results = load_tracker_results('T', tmp_path, {'seq': 4})
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and '2 of 4 rows are not finite (first at line 2)' in messages[0]
    assert results.boxes['seq'].shape == (4, 4)
