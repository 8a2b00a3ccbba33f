"""Unaligned rigs (issue 26): the thermal patch is warped through the sequence's registration.json
instead of stretching whole frames; checked against sample_patch and a known scaled thermal camera."""
import json

import cv2
import numpy as np
import pytest
import torch

from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.tracker import Tracker
from pytracking.features.preprocessing import numpy_to_torch, registered_patch, sample_patch
from rgbt.synthetic import SequenceSpec, generate_benchmark


def smooth_image(height=96, width=128):
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = 127 + 60 * np.sin(x / 9.0) + 50 * np.cos(y / 7.0)
    return np.repeat(image[:, :, None], 3, axis=2).astype(np.float32)


@pytest.mark.parametrize('pos, crop', [((48.0, 64.0), 40.0), ((10.0, 120.0), 60.0), ((50.0, 30.0), 24.0)])
def test_the_identity_registration_cuts_what_sample_patch_cuts(pos, crop):
    image = torch.from_numpy(smooth_image()).permute(2, 0, 1).unsqueeze(0)
    output = torch.tensor([32.0, 32.0])
    expected, coords = sample_patch(image, torch.tensor(pos), torch.tensor([crop, crop]), output)
    warped = registered_patch(image, torch.eye(3, dtype=torch.float64), coords, output)
    assert warped.shape == expected.shape == (1, 3, 32, 32)
    # Upsampling, F.interpolate clamps at the crop's own edge where the warp reads the pixel beyond
    # it: the outermost ring may differ, nothing inside it.
    torch.testing.assert_close(warped[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-3, rtol=0)


def test_a_half_resolution_shifted_thermal_camera_shows_the_visible_patchs_content():
    rgb = smooth_image(96, 128)
    # The thermal camera: half the resolution, its view shifted by 6 visible pixels right, 4 down.
    shift = (6.0, 4.0)
    tir_from_rgb = np.array([[0.5, 0, 0.5 * (0.5 - shift[0]) - 0.5], [0, 0.5, 0.5 * (0.5 - shift[1]) - 0.5], [0, 0, 1]])
    rgb_from_tir = np.linalg.inv(tir_from_rgb)
    tir = cv2.warpPerspective(rgb, rgb_from_tir, (64, 48), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    output = torch.tensor([24.0, 24.0])
    rgb_patch, coords = sample_patch(numpy_to_torch(rgb), torch.tensor([50.0, 60.0]), torch.tensor([40.0, 40.0]), output)
    tir_patch = registered_patch(numpy_to_torch(tir), torch.from_numpy(tir_from_rgb), coords, output)
    stretched, _ = sample_patch(numpy_to_torch(cv2.resize(tir, (128, 96))), torch.tensor([50.0, 60.0]),
                                torch.tensor([40.0, 40.0]), output)
    registered_error = (tir_patch - rgb_patch).abs().mean().item()
    stretched_error = (stretched - rgb_patch).abs().mean().item()
    assert registered_error < 3.0 and stretched_error > 4 * registered_error, (registered_error, stretched_error)


def test_a_sequence_with_a_registration_tracks_with_its_own_thermal_size(tmp_path, network_file):
    root = generate_benchmark(tmp_path / 'syn', 'rgbt234', {'train': 1, 'test': 1},
                              SequenceSpec(num_frames=6, width=64, height=48), seed=4, progress=False)
    sequence = get_dataset('synthetic', root=root, require_frames=True)[0]
    for _, tir_path in sequence.frames:             # the thermal camera at 3/4 of the resolution
        cv2.imwrite(tir_path, cv2.resize(cv2.imread(tir_path), (48, 36), interpolation=cv2.INTER_AREA))
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file), results_dir=tmp_path / 'results')
    with pytest.raises(Exception, match='thermal frame .* is 48x36'):
        tracker.run_sequence(sequence)              # no registration: the size mismatch is an error
    registration = {'tir_from_rgb': [[0.75, 0, -0.125], [0, 0.75, -0.125], [0, 0, 1]],
                    'rgb_size': [64, 48], 'tir_size': [48, 36]}
    sequence_dir = root / 'test' / sequence.name
    (sequence_dir / 'registration.json').write_text(json.dumps(registration))
    boxes = np.array(tracker.run_sequence(sequence)['target_bbox'])
    assert boxes.shape == (6, 4) and np.isfinite(boxes).all()
    registration['tir_size'] = [64, 48]
    (sequence_dir / 'registration.json').write_text(json.dumps(registration))
    with pytest.raises(ValueError, match=r"registration.json was made for tir_size \[64, 48\], but the frames are \[48, 36\]"):
        tracker.run_sequence(sequence)


def test_the_unaligned_16_bit_rig_writes_its_true_registration_and_tracks(tmp_path, network_file, monkeypatch):
    from ltr.data.image_loader import imread_rgb
    from ltr.data.registration import find_registration
    from pytracking import run_analysis, run_tracker
    from rgbt.synthetic.__main__ import main as synthetic_main
    root = tmp_path / 'rig'
    synthetic_main(['--out', str(root), '--sequences', '1', '--train-sequences', '1', '--frames', '6', '--width', '64',
                    '--height', '48', '--unaligned', '--thermal-16bit'])
    aligned = generate_benchmark(tmp_path / 'aligned', 'rgbt234', {'train': 1, 'test': 1},
                                 SequenceSpec(num_frames=6, width=64, height=48), seed=0, progress=False)
    sequence = get_dataset('synthetic', root=root, require_frames=True)[0]
    registration = find_registration(root / 'test' / sequence.name)
    tir_width, tir_height = registration.tir_size
    assert registration.rgb_size == (64, 48) and 32 <= tir_width <= 52 and tir_height == round(48 * tir_width / 64)
    rgb_path, tir_path = sequence.frames[0]
    assert tir_path.endswith('.png') and cv2.imread(tir_path, cv2.IMREAD_UNCHANGED).dtype == np.uint16
    # The thermal frame is the aligned benchmark's thermal frame seen through the registration.
    aligned_tir = imread_rgb(get_dataset('synthetic', root=aligned, require_frames=True)[0].frames[0][1])
    seen = cv2.warpPerspective(aligned_tir, registration.tir_from_rgb, (tir_width, tir_height),
                               borderMode=cv2.BORDER_REFLECT).astype(float)
    decoded = imread_rgb(tir_path).astype(float)
    correlation = np.corrcoef(seen[..., 0].ravel(), decoded[..., 0].ravel())[0, 1]
    assert correlation > 0.95, correlation
    monkeypatch.setenv('SYNTHETIC_PATH', str(root))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / 'results'))
    assert run_tracker.main(['cmd_student', 'synthetic', '--net', str(network_file)]) == 0
    assert run_analysis.main(['--dataset', 'synthetic', '--dataset-root', str(root), '--tracker', 'cmd_student',
                              '--param', 'synthetic']) == 0


def test_the_estimated_registration_lands_near_the_true_one(tmp_path):
    from ltr.data.registration import find_registration, read_registration
    from rgbt import register
    from rgbt.synthetic.__main__ import main as synthetic_main
    root = tmp_path / 'rig'
    synthetic_main(['--out', str(root), '--sequences', '2', '--train-sequences', '0', '--frames', '4', '--unaligned'])
    for name in ('test000', 'test001'):
        sequence = root / 'test' / name
        true = find_registration(sequence)
        out = tmp_path / f'{name}.json'
        register.main([str(sequence), '--out', str(out)])
        estimated = read_registration(out)
        assert estimated.rgb_size == true.rgb_size and estimated.tir_size == true.tir_size
        stretch = np.diag([true.tir_size[0] / true.rgb_size[0], true.tir_size[1] / true.rgb_size[1], 1.0])
        error = register.corner_error(estimated.tir_from_rgb, true.tir_from_rgb, true.rgb_size)
        assert error < 0.5 * register.corner_error(stretch, true.tir_from_rgb, true.rgb_size) and error < 4.0, error
        with pytest.raises(SystemExit, match='exists; pass --overwrite'):
            register.main([str(sequence), '--out', str(out)])


def test_frames_without_shared_edges_are_an_error_not_a_registration(tmp_path):
    from rgbt import register
    rng = np.random.default_rng(0)
    for name in ('v.png', 't.png'):
        cv2.imwrite(str(tmp_path / name), (rng.random((48, 64)) * 255).astype(np.uint8))
    with pytest.raises(SystemExit, match='ECC converged on none'):
        register.main(['--rgb', str(tmp_path / 'v.png'), '--tir', str(tmp_path / 't.png'), '--out', str(tmp_path / 'r.json')])
    assert not (tmp_path / 'r.json').exists()


def test_the_unaligned_experiment_scores_three_rows_and_the_corner_errors(tmp_path, network_file, capsys):
    from rgbt import unaligned_experiment
    unaligned_experiment.main(['--net', str(network_file), '--sequences', '2', '--frames', '6', '--out', str(tmp_path)])
    result = json.loads((tmp_path / 'unaligned.json').read_text())
    assert set(result['scores']) == {'stretch', 'true', 'estimated'}
    assert all(0 <= result['scores'][row]['SR'] <= 100 for row in result['scores'])
    assert 0 <= result['corner_error']['estimated'] and result['corner_error']['stretch'] > 1.0
    # The three rows read the same frames: each row's folder links the rig's frame folders.
    linked = tmp_path / 'data' / 'rig_true' / 'test' / 'test000' / 'infrared'
    assert linked.is_symlink() and linked.resolve() == (tmp_path / 'data' / 'rig' / 'test' / 'test000' / 'infrared').resolve()
    assert not (tmp_path / 'data' / 'rig_stretch' / 'test' / 'test000' / 'registration.json').exists()
    assert '| estimated |' in capsys.readouterr().out


@pytest.mark.parametrize('layout, dataset, subfolder', [('rgbt234', 'rgbt234', 'test'), ('gtot', 'gtot', 'test'),
                                                         ('lasher', 'lasher', ''), ('vtuav', 'vtuav', '')])
def test_the_unaligned_rig_is_written_in_every_layout_and_read_with_its_registration(tmp_path, layout, dataset,
                                                                                    subfolder):
    from pytracking.evaluation.tracker import sequence_registration
    root = generate_benchmark(tmp_path, layout, {'train': 1, 'test': 1},
                              SequenceSpec(num_frames=3, width=64, height=48, unaligned=True), seed=0, progress=False)
    (sequence,) = get_dataset(dataset, root=root / subfolder, require_frames=True)
    registration = sequence_registration(sequence)
    assert registration is not None and registration.rgb_size == (64, 48)
    tir = cv2.imread(sequence.frames[0][1])
    assert (tir.shape[1], tir.shape[0]) == tuple(registration.tir_size) != (64, 48)
