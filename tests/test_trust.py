"""Trust, round 2 (issue 25): nothing is written outside its folder, no input is overwritten, every
size read from a file is bounded before anything is allocated, and broken weights or first boxes are
refused instead of tracked. Each test reproduces the hostile input of the issue."""
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from ltr.admin import loading
from ltr.admin.limits import BOUNDS, LimitError, bound, check_limit
from ltr.admin.paths import OverwriteError, UnsafeNameError, check_output, child_path, plain_name
from ltr.data import image_loader
from ltr.data.image_loader import ImageReadError, imread_rgb
from rgbt.benchmarks import AnnotationError, RGBT234, first_box_reason, read_name_list
from rgbt.nets import cmd_student
from rgbt.synthetic import SequenceSpec, generate_benchmark

from conftest import SAMPLE

REPO = Path(__file__).resolve().parents[1]
SMALL = SequenceSpec(num_frames=6, width=64, height=48)


# ---- Names read from files stay inside their folder ----

@pytest.mark.parametrize('name', ['/somewhere/evilseq', '../evilseq', 'a/b', 'a\\b', '..', '.', '', 'C:evil'])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafeNameError):
        plain_name(name, 'list.txt, line 3')


def test_plain_names_pass_and_a_link_out_of_the_folder_is_refused(tmp_path):
    assert plain_name('car-1_night') == 'car-1_night'
    (tmp_path / 'results').mkdir()
    os.symlink(tmp_path / 'elsewhere.txt', tmp_path / 'results' / 'seq.txt')
    with pytest.raises(UnsafeNameError, match='outside'):
        child_path(tmp_path / 'results', 'seq.txt')
    assert child_path(tmp_path / 'results', 'other.txt') == tmp_path / 'results' / 'other.txt'


def test_name_lists_refuse_paths_and_duplicates_naming_file_and_line(tmp_path):
    listing = tmp_path / 'testingsetList.txt'
    listing.write_text('seqA\n\n/somewhere/evilseq\n')
    with pytest.raises(AnnotationError, match=r'testingsetList.txt, line 3: .*absolute'):
        read_name_list(listing)
    listing.write_text('seqA\nseqB\nseqA\n')
    with pytest.raises(AnnotationError, match=r'line 3: .*listed again \(first on line 1\)'):
        read_name_list(listing)


def _lasher_root(tmp_path):
    return generate_benchmark(tmp_path / 'lasher', 'lasher', {'train': 1, 'test': 1}, SMALL, seed=1, progress=False)


def test_an_absolute_path_in_a_lasher_list_writes_nothing_outside_the_results_folder(tmp_path, network_file,
                                                                                      monkeypatch, capsys):
    """Done-when check 1 of the issue, through the command line."""
    root = _lasher_root(tmp_path)
    listing = root / 'testingsetList.txt'
    name = read_name_list(listing)[0]
    evil = tmp_path / 'somewhere' / 'evilseq'
    shutil.copytree(root / 'testingset' / name, evil)
    listing.write_text(f"{name}\n{evil}\n")
    results = tmp_path / 'results'
    monkeypatch.setenv('LASHER_PATH', str(root))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(results))
    from pytracking import run_tracker
    with pytest.raises(SystemExit) as exit_info:
        run_tracker.main(['cmd_student', 'default', '--dataset', 'lasher', '--net', str(network_file)])
    assert 'line 2' in str(exit_info.value) and 'absolute' in str(exit_info.value)
    assert sorted(p.name for p in evil.parent.iterdir()) == ['evilseq']
    assert sorted(p.name for p in evil.iterdir()) == sorted(p.name for p in (root / 'testingset' / name).iterdir())


def test_attribute_flags_written_as_floats_are_read_and_others_refused(tmp_path):
    root = generate_benchmark(tmp_path / 'b', 'rgbt234', {'train': 1, 'test': 2}, SMALL, seed=1, progress=False)
    test = root / 'test'
    flags = test / 'attr_txt' / 'FM.txt'
    names = read_name_list(test / 'attr_txt' / 'SequencesName.txt')
    flags.write_text('1.0\n0.0\n')
    attributes = RGBT234(test).attributes()
    assert 'FM' in attributes[names[0]] and 'FM' not in attributes[names[1]]
    flags.write_text('1\nyes\n')
    with pytest.raises(AnnotationError, match=r'FM.txt, line 2: attribute flag'):
        RGBT234(test).attributes()


# ---- No output replaces an input ----

def _folder_pair(tmp_path, frames=3, size=(48, 64)):
    for modality in ('rgb', 'tir'):
        (tmp_path / modality).mkdir()
        for index in range(frames):
            image = np.full((*size, 3), 40 + 30 * index, np.uint8)
            cv2.rectangle(image, (20, 14), (36, 30), (250, 250, 250), -1)
            cv2.imwrite(str(tmp_path / modality / f'{index:04d}.png'), image)
    return tmp_path / 'rgb', tmp_path / 'tir'


def _write_video(path, frames, fps=10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_save_video_onto_the_rgb_input_leaves_it_byte_for_byte_unchanged(tmp_path, network_file, capsys):
    """Done-when check 2 of the issue."""
    from pytracking import run_video
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(4)]
    rgb, tir = _write_video(tmp_path / 'rgb.mp4', frames), _write_video(tmp_path / 'tir.mp4', frames)
    before = rgb.read_bytes()
    for target in (rgb, tir):
        with pytest.raises(SystemExit):
            run_video.main(['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--init', '20,14,16,16', '--net',
                            str(network_file), '--save-video', str(target), '--no-window', '--overwrite'])
        assert 'refusing to overwrite it' in capsys.readouterr().err
    assert rgb.read_bytes() == before


def test_default_box_files_are_named_per_input_and_never_silently_replaced(tmp_path, network_file, capsys):
    from pytracking import run_video
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(3)]
    for clip in ('clip1', 'clip2'):
        _write_video(tmp_path / f'{clip}_rgb.mp4', frames), _write_video(tmp_path / f'{clip}_tir.mp4', frames)
        assert run_video.main(['cmd_student', '--rgb', str(tmp_path / f'{clip}_rgb.mp4'), '--tir',
                               str(tmp_path / f'{clip}_tir.mp4'), '--init', '20,14,16,16', '--net', str(network_file),
                               '--no-window']) == 0
    assert sorted(p.name for p in tmp_path.glob('*_boxes.txt')) == ['clip1_rgb_cmd_student_boxes.txt',
                                                                    'clip2_rgb_cmd_student_boxes.txt']
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb', str(tmp_path / 'clip1_rgb.mp4'), '--tir', str(tmp_path / 'clip1_tir.mp4'),
                        '--init', '20,14,16,16', '--net', str(network_file), '--no-window'])
    assert '--overwrite' in capsys.readouterr().err
    with pytest.raises(SystemExit):        # --out an existing folder: refused before tracking, not after
        run_video.main(['cmd_student', '--rgb', str(tmp_path / 'clip1_rgb.mp4'), '--tir', str(tmp_path / 'clip1_tir.mp4'),
                        '--init', '20,14,16,16', '--net', str(network_file), '--out', str(tmp_path)])
    assert 'is a folder' in capsys.readouterr().err


def test_check_output_refuses_a_hard_link_to_an_input(tmp_path):
    source = tmp_path / 'in.txt'
    source.write_text('input')
    os.link(source, tmp_path / 'alias.txt')
    with pytest.raises(OverwriteError, match='is the input'):
        check_output(tmp_path / 'alias.txt', [source], overwrite=True)


def test_videos_at_different_frame_rates_are_refused(tmp_path, capsys):
    from pytracking import run_video
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(6)]
    rgb, tir = _write_video(tmp_path / 'rgb.mp4', frames, fps=10), _write_video(tmp_path / 'tir.mp4', frames, fps=30)
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--init', '1,1,5,5'])
    assert 'runs at 10 fps but' in capsys.readouterr().err


# ---- Sizes from files are bounded before allocation ----

def _checkpoint(tmp_path, name='net.pth.tar', state=None, constructor=None, **extra):
    torch.manual_seed(0)
    net = cmd_student(backbone_pretrained=False)
    checkpoint = {'net': net.state_dict() if state is None else state, 'net_type': 'RGBTDiMPnet',
                  'constructor': net.constructor.to_dict() if constructor is None else constructor}
    checkpoint.update(extra)
    torch.save(checkpoint, tmp_path / name)
    return tmp_path / name, net


def test_a_stored_crop_of_4096_is_refused_quickly_under_an_8_gb_address_space(tmp_path):
    """Done-when check 4 of the issue: the tracker is started on a checkpoint storing output_sz=4096
    in a child process limited to 8 GB of address space; it must stop with the bound's error, not
    with a MemoryError or after allocating."""
    path, _ = _checkpoint(tmp_path, settings={'config': {'output_sz': 4096}})
    script = (
        "import resource, sys, numpy as np\n"
        "resource.setrlimit(resource.RLIMIT_AS, (8_000_000_000, 8_000_000_000))\n"
        "from pytracking.evaluation.tracker import Tracker\n"
        "tracker = Tracker('cmd_student', 'default', net_path=sys.argv[1])\n"
        "image = np.zeros((96, 128, 3), np.uint8)\n"
        "tracker.create_tracker(tracker.get_parameters()).initialize((image, image), {'init_bbox': [10, 10, 20, 20]})\n")
    result = subprocess.run([sys.executable, '-c', script, str(path)], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode != 0
    assert 'output_sz is 4,096, above the bound of 1,024' in result.stderr, result.stderr[-2000:]
    assert 'MemoryError' not in result.stderr


def test_settings_that_are_not_a_mapping_are_one_error_naming_the_file(tmp_path):
    from pytracking.features.net_wrappers import NetworkFile
    for settings, message in (([1, 2], "'settings' is a list, not a dict"),
                              ({'config': [3]}, "'settings.config' is a list, not a dict"),
                              ('text', "'settings' is a str, not a dict")):
        path, _ = _checkpoint(tmp_path, settings=settings)
        with pytest.raises(loading.CheckpointError, match=message) as err:
            NetworkFile('x.pth.tar', path=str(path)).training_crop_size()
        assert str(path) in str(err.value)


@pytest.mark.parametrize('value, message', [(-16, 'not a crop size'), ('abc', 'not a crop size'),
                                            (4096, 'above the bound')])
def test_stored_crop_sizes_are_checked(tmp_path, value, message):
    from pytracking.features.net_wrappers import NetworkFile
    path, _ = _checkpoint(tmp_path, settings={'config': {'output_sz': value}})
    with pytest.raises(loading.CheckpointError, match=message) as err:
        NetworkFile('x.pth.tar', path=str(path)).training_crop_size()
    assert str(path) in str(err.value)


def test_a_builder_argument_of_a_billion_bins_is_refused_before_allocation(tmp_path):
    torch.manual_seed(0)
    constructor = cmd_student(backbone_pretrained=False).constructor.to_dict()
    constructor['kwds']['num_dist_bins'] = 10 ** 9
    path, _ = _checkpoint(tmp_path, constructor=constructor)
    with pytest.raises(loading.CheckpointError, match=r"num_dist_bins'\] is 1,000,000,000, above the bound"):
        loading.load_network(path)


def test_a_compressed_checkpoint_that_expands_far_is_refused(tmp_path):
    plain, _ = _checkpoint(tmp_path)
    bomb = tmp_path / 'bomb.pth.tar'
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(bomb, 'w') as target:
        for item in source.infolist():
            target.writestr(item.filename, source.read(item.filename), compress_type=zipfile.ZIP_STORED)
        target.writestr('net/data/padding', b'\0' * (64 << 20), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(loading.CheckpointError, match='compression ratio .* above the bound'):
        loading.load_network(bomb)


def test_the_uncompressed_size_bound_and_its_override(monkeypatch):
    with pytest.raises(LimitError, match=r'ckpt: uncompressed is 5,000,000,000, above the bound of 4,294,967,296'):
        check_limit('checkpoint_bytes', 5_000_000_000, 'ckpt', 'uncompressed')
    monkeypatch.setenv('RGBT_MAX_CHECKPOINT_BYTES', '6000000000')
    check_limit('checkpoint_bytes', 5_000_000_000, 'ckpt', 'uncompressed')
    monkeypatch.setenv('RGBT_MAX_CHECKPOINT_BYTES', 'lots')
    with pytest.raises(LimitError, match='not a positive integer'):
        bound('checkpoint_bytes')
    assert set(BOUNDS) >= {'output_sz', 'builder_int', 'image_pixels', 'checkpoint_bytes'}


def _png_declaring(path, width, height):
    """A small valid PNG whose header says width x height (IHDR rewritten with its CRC)."""
    ok, data = cv2.imencode('.png', np.zeros((4, 4, 3), np.uint8))
    data = bytearray(data.tobytes())
    ihdr = bytearray(data[12:29])               # 'IHDR' + 13 bytes
    ihdr[4:12] = struct.pack('>II', width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(ihdr)) & 0xffffffff)
    path.write_bytes(bytes(data))
    return path


def test_a_png_declaring_300_megapixels_is_refused_from_its_header(tmp_path):
    path = _png_declaring(tmp_path / 'huge.png', 20000, 15000)
    assert path.stat().st_size < 1000
    with pytest.raises(ImageReadError, match=r'huge.png.*above the bound'):
        imread_rgb(path)


def test_a_constructor_nested_5000_deep_is_refused(tmp_path):
    nested = []
    for _ in range(5000):
        nested = [nested]
    torch.manual_seed(0)
    constructor = cmd_student(backbone_pretrained=False).constructor.to_dict()
    constructor['kwds']['head'] = nested
    path = tmp_path / 'deep.pth.tar'
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(30000)          # as a hostile writer would, to save it at all
    try:
        torch.save({'net': {}, 'constructor': constructor}, path)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(loading.CheckpointError) as err:
        loading.load_network(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize('change, message', [
    ({'net': torch.zeros(3)}, "'net' is a Tensor"),
    ({'constructor': 'rgbt.nets.cmd_student'}, "'constructor' is a str"),
    ({'constructor': {'fun_module': 'rgbt.nets'}}, "'fun_name' is None"),
    ({'constructor': {'fun_module': 'rgbt.nets', 'fun_name': 'cmd_student', 'kwds': [1]}}, "'kwds' is a list"),
    ({'constructor': {'fun_module': 'rgbt.nets', 'fun_name': 'cmd_student', 'args': 'abc'}}, "'args' is a str"),
    ({'constructor': {'fun_module': 'rgbt.nets', 'fun_name': 'cmd_student', 'kwds': {'filter_size': 'four'}}},
     'does not build a network'),
])
def test_malformed_checkpoint_entries_are_one_error_naming_the_file(tmp_path, change, message):
    path, _ = _checkpoint(tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint.update(change)
    torch.save(checkpoint, path)
    with pytest.raises(loading.CheckpointError, match=message) as err:
        loading.load_network(path)
    assert str(path) in str(err.value)


# ---- Broken weights are refused, not tracked ----

def test_tracking_with_an_all_nan_checkpoint_writes_no_result_and_names_the_weights(tmp_path, monkeypatch):
    """Done-when check 3 of the issue."""
    torch.manual_seed(0)
    net = cmd_student(backbone_pretrained=False)
    state = {k: torch.full_like(v, float('nan')) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    path, _ = _checkpoint(tmp_path, state=state, settings={'output_sz': SAMPLE})
    root = generate_benchmark(tmp_path / 'data', 'rgbt234', {'train': 1, 'test': 1}, SMALL, seed=1, progress=False)
    results = tmp_path / 'results'
    monkeypatch.setenv('RGBT234_PATH', str(root / 'test'))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(results))
    from pytracking import run_tracker
    with pytest.raises(SystemExit, match=r'weight feature_extractor\.conv1\.weight holds non-finite values'):
        run_tracker.main(['cmd_student', 'default', '--dataset', 'rgbt234', '--net', str(path)])
    assert not results.exists() or not any(results.rglob('*'))     # no result, no network.json to block a retry


def test_integer_weights_are_refused_naming_the_first_tensor(tmp_path):
    torch.manual_seed(0)
    net = cmd_student(backbone_pretrained=False)
    state = {k: v.to(torch.int64) for k, v in net.state_dict().items()}
    path, _ = _checkpoint(tmp_path, state=state)
    with pytest.raises(loading.CheckpointError, match=r'weight feature_extractor\.\S+ holds torch.int64'):
        loading.load_network(path)


def test_a_folder_picks_the_latest_epoch_not_a_backup_sorted_after_it(tmp_path):
    _checkpoint(tmp_path, name='RGBTDiMPnet_ep0002.pth.tar', epoch=2)
    _checkpoint(tmp_path, name='backup_before_finetune.pth.tar', epoch=99)
    _checkpoint(tmp_path, name='RGBTDiMPnet_ep0010.pth.tar', epoch=10)
    assert loading.checkpoint_path(tmp_path).name == 'RGBTDiMPnet_ep0010.pth.tar'
    assert loading.checkpoint_path(tmp_path, 2).name == 'RGBTDiMPnet_ep0002.pth.tar'


# ---- First boxes ----

@pytest.mark.parametrize('box, message', [([5000, -3000, 12, 16], 'does not overlap'), ([1e300, 1, 5, 5], 'does not overlap'),
                                          ([1, 1, 1e300, 1e300], 'twice the size'), ([10, 10, 20, 20], None)])
def test_a_first_box_must_overlap_the_image(box, message):
    reason = first_box_reason(box, 128, 96)
    assert (reason is None) if message is None else (message in reason)


def test_run_video_refuses_an_init_box_outside_the_first_frame(tmp_path, capsys):
    from pytracking import run_video
    rgb, tir = _folder_pair(tmp_path)
    with pytest.raises(SystemExit):
        run_video.main(['cmd_student', '--rgb', str(rgb), '--tir', str(tir), '--init', '9000,9000,5,5', '--no-window'])
    assert 'does not overlap the 64x48 image' in capsys.readouterr().err


# ---- One decoding policy ----

def _jpeg_with_exif_orientation(path, orientation=6):
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, :64] = 255
    ok, data = cv2.imencode('.jpg', image)
    data = data.tobytes()
    tiff = b'MM\x00\x2a\x00\x00\x00\x08' + struct.pack('>H', 1) + struct.pack('>HHIHH', 0x0112, 3, 1, orientation, 0) \
        + b'\x00\x00\x00\x00'
    app1 = b'Exif\x00\x00' + tiff
    path.write_bytes(data[:2] + b'\xff\xe1' + struct.pack('>H', len(app1) + 2) + app1 + data[2:])
    return path


@pytest.mark.parametrize('decoder', ['jpeg4py', 'opencv'])
def test_exif_orientation_is_ignored_by_both_decoders(tmp_path, monkeypatch, decoder):
    path = _jpeg_with_exif_orientation(tmp_path / 'rotated.jpg')
    if decoder == 'opencv':
        monkeypatch.setattr(image_loader, '_jpeg4py_module', lambda: None)
    elif image_loader._jpeg4py_module() is None:
        pytest.skip('jpeg4py / libturbojpeg not available')
    assert imread_rgb(path).shape == (96, 128, 3)


def test_16_bit_thermal_frames_map_by_the_first_frames_percentiles_and_say_so(tmp_path, caplog):
    """Issue 26, section 4: read as 16 bits (not 4 grey levels), one range per sequence folder."""
    import logging
    folder = tmp_path / 'seq' / 'infrared'
    folder.mkdir(parents=True)
    first = np.linspace(20000, 21000, 64 * 48).reshape(48, 64).astype(np.uint16)     # 1000 counts of scene
    later = first.copy()
    later[:, :32] += 500                                                              # a warmer half
    cv2.imwrite(str(folder / '00001.png'), first)
    cv2.imwrite(str(folder / '00002.png'), later)
    image_loader.thermal_range.cache_clear()
    with caplog.at_level(logging.INFO, logger='ltr.data.image_loader'):
        decoded_first, decoded_later = imread_rgb(folder / '00001.png'), imread_rgb(folder / '00002.png')
    low, high = np.percentile(first, (1, 99))

    def expected(raw):          # the first frame's range for every frame of the folder
        return np.clip(np.rint((raw.astype(np.float32) - low) * (255 / (high - low))), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded_first[:, :, 0], expected(first))
    np.testing.assert_array_equal(decoded_later[:, :, 2], expected(later))
    assert len(np.unique(decoded_first)) > 200                       # dropping the low byte left 4 levels
    assert caplog.text.count('16-bit frames of') == 1 and '00001.png' in caplog.text
    # A rig's registration.json fixes the range for every sequence below it.
    (tmp_path / 'registration.json').write_text('{"thermal_range": [20000, 20510]}')
    image_loader.thermal_range.cache_clear()
    assert imread_rgb(folder / '00001.png')[0, 0, 0] == 0 and imread_rgb(folder / '00002.png')[0, 31, 0] == 255
    (tmp_path / 'registration.json').write_text('{"thermal_range": [300, 200]}')
    image_loader.thermal_range.cache_clear()
    with pytest.raises(ImageReadError, match='registration.json: thermal_range must be'):
        imread_rgb(folder / '00001.png')
    image_loader.thermal_range.cache_clear()



def test_the_thermal_range_flag_wins_over_registration_json_and_is_checked(tmp_path, monkeypatch):
    folder = tmp_path / 'seq' / 'infrared'
    folder.mkdir(parents=True)
    frame = np.linspace(20000, 21000, 64 * 48).reshape(48, 64).astype(np.uint16)
    cv2.imwrite(str(folder / '00001.png'), frame)
    (tmp_path / 'registration.json').write_text('{"thermal_range": [0, 65535]}')     # the rig's, overridden
    monkeypatch.setenv('RGBT_THERMAL_RANGE', '')             # restored after the test
    assert image_loader.set_thermal_range('20000,20510') == (20000.0, 20510.0)
    decoded = imread_rgb(folder / '00001.png')[:, :, 0]
    expected = np.clip(np.rint((frame.astype(np.float32) - 20000) * (255 / 510)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded, expected)
    for bad in ('20510,20000', '1,2,3', 'x,1', '-1,5', '0,70000'):
        with pytest.raises(ValueError, match='--thermal-range'):
            image_loader.set_thermal_range(bad)
    monkeypatch.setenv('RGBT_THERMAL_RANGE', 'warm')
    image_loader.thermal_range.cache_clear()
    with pytest.raises(ValueError, match="RGBT_THERMAL_RANGE: expected LOW,HIGH"):
        imread_rgb(folder / '00001.png')
    image_loader.thermal_range.cache_clear()

# ---- Round 2, part 2: crashes become one line naming the input; silent cases are refused ----

def test_a_jpeg_with_trailing_data_decodes_and_a_cut_one_is_refused(tmp_path):
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    clean = tmp_path / 'clean.jpg'
    cv2.imwrite(str(clean), image)
    data = clean.read_bytes()
    trailing = tmp_path / 'trailing.jpg'            # 64 KB after the end marker: beyond the tail searched first
    trailing.write_bytes(data + bytes(range(1, 255)) * 258)
    np.testing.assert_array_equal(imread_rgb(trailing), imread_rgb(clean))
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(data[:len(data) // 2] + b'\x00' * 70000)
    with pytest.raises(ImageReadError, match='cut.jpg is truncated or corrupt'):
        imread_rgb(cut)


def test_a_frame_of_another_size_stops_the_sequence_naming_its_file(tmp_path, network_file):
    from pytracking.evaluation.datasets import get_dataset
    from pytracking.evaluation.tracker import Tracker
    root = generate_benchmark(tmp_path / 'syn', 'rgbt234', {'train': 1, 'test': 1}, SMALL, seed=2, progress=False)
    sequence = get_dataset('synthetic', root=root, require_frames=True)[0]
    rgb, tir = sequence.frames[3]
    for path in (rgb, tir):
        cv2.imwrite(path, cv2.resize(cv2.imread(path), (96, 72)))
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file), results_dir=tmp_path / 'results')
    with pytest.raises(ValueError, match=rf"frame 3 \({rgb}\): frame size \(height, width\) \[\(72, 96\), \(72, 96\)\] "
                                         r"differs from the first frame's \[\(48, 64\), \(48, 64\)\]"):
        tracker.run_sequence(sequence)


def test_a_results_folder_inside_the_data_is_refused_before_anything_is_written(tmp_path, network_file, monkeypatch):
    from pytracking import run_tracker
    root = generate_benchmark(tmp_path / 'syn', 'rgbt234', {'train': 1, 'test': 1}, SMALL, seed=2, progress=False)
    before = sorted(str(p) for p in root.rglob('*'))
    monkeypatch.setenv('SYNTHETIC_PATH', str(root))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(root / 'test'))
    with pytest.raises(SystemExit, match="is inside the data set's folder"):
        run_tracker.main(['cmd_student', 'synthetic', '--net', str(network_file)])
    assert sorted(str(p) for p in root.rglob('*')) == before


@pytest.mark.parametrize('arguments, message', [
    (['cmd', 'nope'], "no experiment 'nope' in pytracking/experiments/cmd.py"),
    (['cmd', '__builtins__'], "no experiment '__builtins__'"),
    (['cmd', 'get_dataset'], "no experiment 'get_dataset'"),          # imported, not defined there
    (['../cmd', 'synthetic'], "no experiment module '../cmd'"),
])
def test_run_experiment_names_only_experiments(arguments, message):
    from pytracking import run_experiment
    with pytest.raises(SystemExit, match=message.replace('(', r'\(').replace('.', r'\.')):
        run_experiment.main(arguments)


@pytest.mark.parametrize('value', ['0', '-16', '100', 'abc', '4096'])
def test_export_onnx_refuses_a_sample_size_that_is_not_a_stride_multiple_within_the_bound(value, capsys):
    from pytracking.util_scripts import export_onnx
    with pytest.raises(SystemExit):
        export_onnx.main(['cmd_student', '--out', 'unused', f'--sample-size={value}'])
    assert '--sample-size' in capsys.readouterr().err


@pytest.mark.parametrize('text, message', [('{"layout": ', r'synthetic.json is not valid JSON \(line 1'),
                                           ('[1, 2]', 'must hold a JSON object, not list'),
                                           (b'\xff\xfe{', 'is not UTF-8 text')])
def test_json_files_that_are_not_json_objects_are_one_error_naming_the_file(tmp_path, text, message):
    from rgbt.benchmarks import Synthetic
    meta = tmp_path / 'synthetic.json'
    meta.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(AnnotationError, match=message):
        Synthetic(tmp_path)
    # The generator treats an unreadable record as no record and writes the benchmark again.
    generate_benchmark(tmp_path, 'rgbt234', {'train': 1, 'test': 1}, SMALL, seed=2, progress=False)
    assert Synthetic(tmp_path).meta['layout'] == 'rgbt234'


def test_an_interrupted_plot_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from ltr.admin.atomic import atomic_savefig
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = tmp_path / 'plot.pdf'
    atomic_savefig(fig, path)
    before = path.read_bytes()
    assert before.startswith(b'%PDF')

    def interrupted(self, handle, **kwargs):
        handle.write(b'%PDF-1.4 half')
        raise KeyboardInterrupt
    monkeypatch.setattr(type(fig), 'savefig', interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_savefig(fig, path)
    plt.close(fig)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ['plot.pdf']


def test_parallel_workers_are_capped_by_the_jobs_and_share_the_cores(monkeypatch):
    """`--threads 3` for one sequence starts one worker, not three (two would sit idle), with the
    cores it may use; each worker's torch threads are its share of the cores."""
    from pytracking.evaluation import running
    pools = []

    class FakePool:
        def __init__(self, processes, initializer, initargs):
            pools.append((processes, initargs))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def imap_unordered(self, function, jobs):
            return iter([])

    class FakeContext:
        Pool = FakePool

    class FakeTracker:
        results_dir = Path('/nonexistent/results')

    monkeypatch.setattr(running.multiprocessing, 'get_context', lambda method: FakeContext())
    monkeypatch.setattr(running, 'claim_results_dir', lambda tracker, threads: {})
    monkeypatch.setattr(running, 'check_outside_data', lambda tracker, dataset: None)
    monkeypatch.setattr(running, 'available_cpus', lambda: 4)
    running.run_dataset(['one sequence'], [FakeTracker()], threads=3)
    running.run_dataset(['a', 'b', 'c'], [FakeTracker()], threads=2)
    assert pools == [(1, (4,)), (2, (2,))]
