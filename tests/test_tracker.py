"""The online RGB-T tracker: full runs, initialisation, memory, localisation, refinement,
robustness and resumable benchmark runs."""
import math
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ltr.admin.loading import save_network
from ltr.data.processing_utils import iou_xywh
from pytracking import run_tracker
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.running import run_dataset
from pytracking.evaluation.tracker import Tracker
from pytracking.tracker.rgbt_dimp.compute import Compute
from pytracking.tracker.rgbt_dimp.defaults import DEFAULTS
from pytracking.tracker.rgbt_dimp.localization import FLAGS, localize_advanced
from pytracking.tracker.rgbt_dimp.memory import update_sample_weights
from pytracking.tracker.rgbt_dimp.rgbt_dimp import RGBTDiMP
from pytracking.utils.params import TrackerParams
from rgbt.nets import cmd_student
from rgbt.synthetic import SequenceSpec, generate_benchmark

from conftest import SAMPLE, SHARED



@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp('syn'), 'rgbt234', {'train': 1, 'test': 3},
                              SequenceSpec(num_frames=12, width=160, height=128), seed=2, progress=False)


def test_full_run_gives_one_plausible_box_per_frame(network_file, synthetic_root):
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    output = Tracker('cmd_student', 'synthetic', net_path=str(network_file)).run_sequence(sequence)
    boxes = np.array(output['target_bbox'])
    assert boxes.shape == (len(sequence), 4) and np.all(np.isfinite(boxes))
    np.testing.assert_array_equal(boxes[0], sequence.ground_truth_rect[0])
    gt_area = np.prod(sequence.ground_truth_rect[0, 2:])
    assert np.all(boxes[:, 2] > 0) and np.all(boxes[:, 3] > 0)
    assert np.all(np.prod(boxes[:, 2:], axis=1) < 30 * gt_area)
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    assert np.all(centres > -0.5 * boxes[:, 2:]) and np.all(centres < np.array([160, 128]) + 0.5 * boxes[:, 2:])
    # Deterministic for a fixed seed.
    again = Tracker('cmd_student', 'synthetic', net_path=str(network_file)).run_sequence(sequence)
    np.testing.assert_array_equal(np.array(again['target_bbox']), boxes)


def test_initialisation_has_15_samples_with_shifted_boxes(network_file, synthetic_root):
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[1]
    params = Tracker('cmd_student', 'synthetic', net_path=str(network_file)).get_parameters()
    tracker = RGBTDiMP(params)
    from ltr.data.image_loader import imread_rgb
    tracker.initialize(tuple(imread_rgb(p) for p in sequence.frames[0]), sequence.init_info())
    assert tracker.num_stored_samples == 15 and len(tracker.transforms) == 13
    names = [type(t).__name__ for t in tracker.transforms]
    assert names == ['Identity'] + ['Translation'] * 4 + ['FlipHorizontal'] + ['Blur'] * 3 + ['Rotate'] * 4
    # Translations by 0.6 of half the sample size, truncated: 0.6 * 64 = 38.4 -> 38 pixels.
    assert [t.shift for t in tracker.transforms[1:5]] == [[38, 38], [-38, 38], [38, -38], [-38, -38]]
    identity = tracker.target_boxes[0]
    for index, transform in enumerate(tracker.transforms):
        expected = identity + torch.tensor([transform.shift[1], transform.shift[0], 0, 0], dtype=identity.dtype)
        torch.testing.assert_close(tracker.target_boxes[index], expected)
    torch.testing.assert_close(tracker.target_boxes[13], identity)      # dropout copies of sample 0
    torch.testing.assert_close(tracker.sample_weights[:15], torch.full((15,), 1 / 15))
    assert tracker.sample_weights[15:].sum() == 0
    assert tracker.training_samples.shape[0] == 50
    # The identity box is the target in sample coordinates: centred, size / scale.
    x, y, w, h = sequence.init_info()['init_bbox']
    assert float(identity[2]) == pytest.approx(w / tracker.target_scale, rel=1e-5)


def test_memory_weighting_rules_by_hand():
    weights = torch.zeros(6)
    weights[:3] = 1 / 3
    # First update: all weights / (1 - lr), the new one gets lr, then normalised.
    new, slot = update_sample_weights(weights, None, 3, 3, 0.1, None)
    raw = torch.tensor([1 / 3 / 0.9] * 3 + [0.1, 0, 0])
    assert slot == 3
    torch.testing.assert_close(new, raw / raw.sum())
    # Later update: the new weight is w[previous] / (1 - lr).
    newer, slot = update_sample_weights(new, 3, 4, 3, 0.1, None)
    raw = new.clone()
    raw[4] = new[3] / 0.9
    torch.testing.assert_close(newer, raw / raw.sum())
    assert slot == 4
    # Full memory: the lowest non-initial slot is replaced, never an initial one.
    full = torch.tensor([0.01, 0.01, 0.01, 0.5, 0.2, 0.27])
    replaced, slot = update_sample_weights(full, 5, 6, 3, 0.1, 0.25)
    assert slot == 4
    # The initial samples fell below 0.25: the others are rescaled and each initial one gets 0.25 / 3.
    raw = full.clone()
    raw[4] = full[5] / 0.9
    raw /= raw.sum()
    expected = raw / (0.25 + raw[3:].sum())
    expected[:3] = 0.25 / 3
    torch.testing.assert_close(replaced, expected)


def localization_params():
    return TrackerParams(DEFAULTS)


def test_localisation_states_on_hand_made_score_maps():
    params = localization_params()
    target_cells = torch.tensor([3.0, 3.0])
    centre = torch.zeros(2)

    def state(scores):
        displacement, flag = localize_advanced(scores, target_cells, centre, params)
        return displacement, FLAGS[int(flag)]

    scores = torch.zeros(19, 19)
    scores[9, 11] = 0.2
    assert state(scores)[1] == 'not_found'
    scores[9, 11] = 0.9
    displacement, flag = state(scores)
    assert flag == 'normal' and displacement.tolist() == [0.0, 2.0]
    scores[2, 2] = 0.6                               # a clear second peak far away: hard negative
    assert state(scores)[1] == 'hard_negative'
    scores[2, 2] = 0.85                              # a distractor almost as strong, far from the target
    displacement, flag = state(scores)
    assert flag == 'hard_negative' and displacement.tolist() == [0.0, 2.0]
    scores = torch.zeros(19, 19)
    scores[0, 0], scores[18, 18] = 0.9, 0.88         # two strong peaks, both far from the previous position
    assert state(scores)[1] == 'uncertain'
    scores = torch.zeros(19, 19)
    scores[1, 1], scores[9, 10] = 0.9, 0.85          # the stronger peak is the distractor: take the near one
    displacement, flag = state(scores)
    assert flag == 'hard_negative' and displacement.tolist() == [0.0, 1.0]
    scores[4, 4] = float('inf')                      # a non-finite score map is never trusted
    assert state(scores)[1] == 'not_found'


def reference_localisation(scores, target_cells, prev_disp, params):
    """DiMP's advanced localisation written out with Python scalars and loops (spec section 5)."""
    rows, cols = scores.shape
    values = scores.tolist()
    if not all(math.isfinite(v) for row in values for v in row):
        return [0.0, 0.0], 'not_found'
    cells = [(values[r][c], r, c) for r in range(rows) for c in range(cols)]
    max1, r1, c1 = max(cells, key=lambda cell: cell[0])           # first maximum in row-major order
    disp1 = [r1 - (rows - 1) / 2, c1 - (cols - 1) / 2]
    if max1 < params.target_not_found_threshold:
        return disp1, 'not_found'
    half = [params.target_neighborhood_scale * float(t) / 2 for t in target_cells]
    top, bottom = max(round(r1 - half[0]), 0), min(round(r1 + half[0] + 1), rows)
    left, right = max(round(c1 - half[1]), 0), min(round(c1 + half[1] + 1), cols)
    masked = [(0.0 if top <= r < bottom and left <= c < right else v, r, c) for v, r, c in cells]
    max2, r2, c2 = max(masked, key=lambda cell: cell[0])
    disp2 = [r2 - (rows - 1) / 2, c2 - (cols - 1) / 2]
    if max2 > params.distractor_threshold * max1:
        threshold = params.displacement_scale * math.sqrt(rows * cols) / 2
        near1 = math.dist(disp1, prev_disp.tolist()) <= threshold
        near2 = math.dist(disp2, prev_disp.tolist()) <= threshold
        if near1 and not near2:
            return disp1, 'hard_negative'
        if near2 and not near1:
            return disp2, 'hard_negative'
        return disp1, 'uncertain'
    if max2 > params.hard_negative_threshold * max1 and max2 > params.target_not_found_threshold:
        return disp1, 'hard_negative'
    return disp1, 'normal'


def test_localisation_matches_a_scalar_reference_on_random_maps():
    params = localization_params()
    generator = torch.Generator().manual_seed(3)
    seen = set()
    for _ in range(300):
        scores = torch.rand(18, 18, generator=generator) * 0.2
        for _ in range(int(torch.randint(1, 4, (1,), generator=generator))):   # planted peaks
            r, c = torch.randint(0, 18, (2,), generator=generator).tolist()
            scores[r, c] = float(torch.rand(1, generator=generator)) * 1.2
        target_cells = 1 + torch.rand(2, generator=generator) * 5
        prev_disp = (torch.rand(2, generator=generator) - 0.5) * 12
        displacement, flag = localize_advanced(scores, target_cells, prev_disp, params)
        expected_disp, expected_flag = reference_localisation(scores, target_cells, prev_disp, params)
        assert FLAGS[int(flag)] == expected_flag
        if expected_flag != 'not_found':
            assert displacement.tolist() == expected_disp
        seen.add(expected_flag)
    assert seen == set(FLAGS)                 # every state was exercised
    scores[3, 4] = float('nan')
    assert FLAGS[int(localize_advanced(scores, target_cells, prev_disp, params)[1])] == 'not_found'


class CPUCompute(Compute):
    """A CPU compute backend around any object with the network's methods (no files, no graphs)."""

    def __init__(self, net=None):
        self.device, self.net = torch.device('cpu'), net


class StubRefinement(CPUCompute):
    """A backend whose IoU-Net refinement returns fixed boxes and IoUs after 'optimisation'."""

    def __init__(self, boxes, ious):
        super().__init__()
        self.boxes, self.ious = torch.tensor(boxes), torch.tensor(ious)

    def iou_features(self, features):
        return None

    def refine_boxes(self, modulation, iou_features, boxes, *schedule):
        return self.boxes, self.ious


def test_refinement_averages_the_top_three_boxes_that_pass_the_aspect_filter():
    tracker = RGBTDiMP(TrackerParams(DEFAULTS))
    tracker.device = torch.device('cpu')
    tracker.generator = torch.Generator().manual_seed(0)
    tracker.img_sample_sz = tracker.img_sample_sz_device = torch.tensor([288.0, 288.0])
    tracker.iou_modulation = None
    boxes = [[10, 10, 40, 20], [12, 10, 44, 20], [200, 10, 300, 20],      # the third is 15:1: filtered out
             [14, 12, 40, 24], [0, 0, 10, 10]]
    tracker.compute = StubRefinement(boxes, [0.5, 0.6, 0.99, 0.7, 0.1])
    centre_sample = torch.tensor([143.5, 143.5])                               # (288 - 1) / 2: scale 1, no shift
    pos, size, refined = tracker.refine_target_box({}, torch.zeros(2), torch.ones(2), centre_sample, 1.0, torch.zeros(0, 4))
    mean_box = torch.tensor([[10, 10, 40, 20], [12, 10, 44, 20], [14, 12, 40, 24]]).float().mean(0)
    assert bool(refined)
    torch.testing.assert_close(size, mean_box[2:].flip(0))
    torch.testing.assert_close(pos, (mean_box[:2] + mean_box[2:] / 2).flip(0))
    # Only one box passes: it alone is the result. None passes: the refinement reports failure.
    tracker.compute = StubRefinement([[5, 6, 30, 20], [0, 0, 90, 10]], [0.2, 0.9])
    pos, size, refined = tracker.refine_target_box({}, torch.zeros(2), torch.ones(2), centre_sample, 1.0, torch.zeros(0, 4))
    assert bool(refined) and size.tolist() == [20.0, 30.0] and pos.tolist() == [16.0, 20.0]
    tracker.compute = StubRefinement([[0, 0, 90, 10], [0, 0, float('nan'), 10]], [0.9, 0.8])
    assert not bool(tracker.refine_target_box({}, torch.zeros(2), torch.ones(2), centre_sample, 1.0, torch.zeros(0, 4))[2])


class ToyIoUHead(torch.nn.Module):
    """The predicted IoU is the true IoU with a fixed box: refinement must move towards it."""

    def __init__(self, target):
        super().__init__()
        self.target = target

    @staticmethod
    def modulate(modulation, features):
        return features

    def predict_iou_modulated(self, modulated, boxes):
        return iou_xywh(boxes, self.target.expand_as(boxes))

    def predict_iou_and_box_gradient(self, modulated, boxes):
        leaf = boxes.detach().requires_grad_(True)
        with torch.enable_grad():
            iou = self.predict_iou_modulated(modulated, leaf)
            (grad,) = torch.autograd.grad(iou.sum(), leaf)
        return iou.detach(), grad


def state_tracker(image_hw=(100.0, 200.0), pos=(50.0, 100.0), size=(20.0, 40.0)):
    """A tracker holding only the state that localize_and_refine reads (scale 1, 288 px samples)."""
    tracker = RGBTDiMP(TrackerParams(DEFAULTS))
    tracker.device = torch.device('cpu')
    tracker.generator = torch.Generator().manual_seed(0)
    tracker.img_sample_sz = tracker.img_sample_sz_device = torch.tensor([288.0, 288.0])
    tracker.image_sz_device = torch.tensor(image_hw)
    tracker.pos, tracker.target_sz = torch.tensor(pos), torch.tensor(size)
    tracker.target_scale = 1.0
    tracker.base_target_sz_device = torch.tensor(size)
    tracker.iou_modulation = None
    tracker.compute = CPUCompute()
    return tracker


def test_target_is_kept_partly_inside_the_image():
    tracker = state_tracker()
    # target_inside_ratio 0.2: the centre may leave the image by 0.3 of the target size, no more.
    clamped = tracker.clamp_inside_image(torch.tensor([150.0, -30.0]), torch.tensor([20.0, 40.0]))
    assert clamped.tolist() == [106.0, -12.0]


def test_not_found_frames_keep_the_last_state_and_found_frames_take_the_refined_box():
    tracker = state_tracker()
    box = [[60.0, 30.0, 50.0, 24.0]] * 3                   # what the (stub) refinement returns, sample coords
    tracker.compute = StubRefinement(box, [0.9, 0.8, 0.7])
    sample_pos = torch.tensor([50.0, 100.0])
    scores = torch.zeros(18, 18)
    scores[9, 9] = 0.9
    for bad in (float('nan'), 0.1):                         # non-finite map; peak below the not-found threshold
        scores[9, 9] = bad
        flag, pos, size, scale = tracker.localize_and_refine(scores, {}, sample_pos, 1.0)
        assert FLAGS[int(flag)] == 'not_found'
        assert pos.tolist() == [50.0, 100.0] and size.tolist() == [20.0, 40.0] and float(scale) == 1.0
    scores[9, 9] = 0.9
    flag, pos, size, scale = tracker.localize_and_refine(scores, {}, sample_pos, 1.0)
    assert FLAGS[int(flag)] == 'normal'
    # The refined box's centre (85, 42) in the sample maps to the image around sample_pos.
    assert size.tolist() == [24.0, 50.0] and pos.tolist() == [42.0 - 143.5 + 50.0, 85.0 - 143.5 + 100.0]
    assert float(scale) == pytest.approx(math.sqrt(24 / 20 * 50 / 40))


def test_iou_net_refinement_raises_predicted_iou():
    target = torch.tensor([40.0, 30.0, 30.0, 20.0])
    compute = CPUCompute(SimpleNamespace(bb_regressor=ToyIoUHead(target)))
    start = torch.tensor([[46.0, 26.0, 24.0, 26.0], [36.0, 34.0, 36.0, 16.0]])
    refined, _ = compute.refine_boxes(None, None, start, iterations=10, step_length=1.0, step_decay=1.0)
    assert torch.all(iou_xywh(refined, target.expand(2, 4)) > iou_xywh(start, target.expand(2, 4)) + 0.05)


def test_vtuav_real_sequence(network_file, tmp_path, monkeypatch):
    """bus1 as a registered `vtuav` sequence: every frame tracked, the 11 annotated ones scored."""
    folder = SHARED / 'data' / 'vtuav_bus1'
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    from pytracking.analysis import evaluate_folders
    root = tmp_path / 'VTUAV'
    (root / 'test_ST').mkdir(parents=True)
    (root / 'test_ST' / 'bus1').symlink_to(folder.resolve())
    monkeypatch.setenv('VTUAV_PATH', str(root))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / 'results'))
    tracker = Tracker('cmd_student', 'vtuav', net_path=str(network_file))
    statuses = run_dataset(get_dataset('vtuav', require_frames=True), [tracker])
    assert statuses[0]['status'] == 'done'
    boxes = np.loadtxt(tracker.results_dir / 'bus1.txt', delimiter='\t')
    assert boxes.shape == (101, 4) and np.all(np.isfinite(boxes))
    assert boxes[0].tolist() == [585, 94, 66, 83]
    assert len(np.loadtxt(tracker.results_dir / 'bus1_time.txt')) == 101
    evaluation = evaluate_folders('vtuav', {'student': tracker.results_dir})
    assert evaluation.trackers['student']['frames'] == 11 and evaluation.protocol.name == 'vtuav'


def test_interrupted_run_resumes_and_a_broken_frame_fails_only_its_sequence(network_file, synthetic_root, tmp_path,
                                                                            monkeypatch):
    root = tmp_path / 'syn'
    shutil.copytree(synthetic_root, root)
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / 'results'))
    sequences = get_dataset('synthetic', root=root, require_frames=True)
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    run_dataset(sequences[:1], [tracker])                           # "interrupted" after one sequence
    first = tracker.results_dir / f"{sequences[0].name}.txt"
    stamp = first.stat().st_mtime_ns
    broken = Path(sequences[2].frames[5][1])
    broken.write_bytes(b'not an image')
    statuses = {s['sequence']: s for s in run_dataset(sequences, [tracker])}
    assert statuses[sequences[0].name]['status'] == 'skipped' and first.stat().st_mtime_ns == stamp
    assert statuses[sequences[1].name]['status'] == 'done'
    assert statuses[sequences[2].name]['status'] == 'failed' and broken.name in statuses[sequences[2].name]['error']
    assert not (tracker.results_dir / f"{sequences[2].name}.txt").exists()
    assert not list(tracker.results_dir.glob('*.tmp'))


def test_run_tracker_cli_runs_the_dataset_named_by_the_parameter(network_file, synthetic_root, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.setenv('SYNTHETIC_PATH', str(synthetic_root))
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path))
    assert run_tracker.main(['cmd_student', 'synthetic', '--net', str(network_file), '--sequence', '1']) == 0
    assert sorted(p.name for p in (tmp_path / 'cmd_student' / 'synthetic').iterdir()) == [
        'network.json', 'test001.txt', 'test001_time.txt']
    assert 'average FPS' in capsys.readouterr().out
    monkeypatch.setenv('RGBT_NETWORK_PATH', str(tmp_path / 'no_networks'))
    with pytest.raises(SystemExit, match='run_training.py cmd student_distill'):
        run_tracker.main(['cmd_student', 'synthetic'])
    with pytest.raises(SystemExit, match='--sequence 99 is out of range: synthetic has 3 sequences'):
        run_tracker.main(['cmd_student', 'synthetic', '--net', str(network_file), '--sequence', '99'])


def test_unknown_parameter_is_rejected():
    with pytest.raises(KeyError, match='dispalcement_scale'):
        TrackerParams(DEFAULTS, dispalcement_scale=0.8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_tracking_matches_cpu(network_file, synthetic_root):
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    results = {}
    for use_gpu in (False, True):
        params = tracker.get_parameters()
        params.use_gpu = use_gpu
        results[use_gpu] = np.array(tracker.run_sequence(sequence, params=params)['target_bbox'])
    np.testing.assert_allclose(results[True][:5], results[False][:5], atol=2.0)


PLAIN_FLOAT32 = {'channels_last': False, 'amp_dtype': None, 'compile_backbone': False, 'fold_batch_norm': False}


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_tracking_reads_the_device_once_per_frame(network_file, synthetic_root):
    """torch's sync debug mode warns at every host-device synchronisation: one per frame (the box)."""
    from ltr.data.image_loader import imread_rgb
    from pytracking.features.preprocessing import numpy_to_torch
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    params = tracker.get_parameters()
    params.use_gpu = True
    tracker_obj = tracker.create_tracker(params)
    frames = [tuple(numpy_to_torch(imread_rgb(p), device='cuda') for p in pair) for pair in sequence.frames[:9]]
    tracker_obj.initialize(frames[0], sequence.init_info())
    for frame in frames[1:5]:                       # warm-up: cuDNN autotuning may synchronise
        tracker_obj.track(frame)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('warn')
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            for frame in frames[5:9]:
                tracker_obj.track(frame)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    syncs = [str(w.message) for w in caught if 'synchroniz' in str(w.message).lower()]
    assert len(syncs) <= 4, syncs


def largest_box_difference(network_file, synthetic_root, option, **common):
    """Max |box difference| over 6 frames between a plain float32 run (no speed option) and a run with
    `option` added."""
    full = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    sequence = Sequence(full.name, full.frames[:6], full.dataset, full.ground_truth_rect[:6])
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    boxes = {}
    for name, overrides in (('float32', PLAIN_FLOAT32), ('option', {**PLAIN_FLOAT32, **option})):
        params = tracker.get_parameters()
        params.update(**common, **overrides)
        boxes[name] = np.array(tracker.run_sequence(sequence, params=params)['target_bbox'])
    return np.abs(boxes['option'] - boxes['float32']).max()


@pytest.mark.parametrize('option, tolerance', [({'channels_last': True}, 0.01), ({'fold_batch_norm': True}, 0.01),
                                               ({'amp_dtype': 'bfloat16'}, 4.0)])
def test_speed_options_give_the_float32_boxes(network_file, synthetic_root, option, tolerance):
    assert largest_box_difference(network_file, synthetic_root, option) <= tolerance


def test_debug_view_saves_frames_with_box_and_scores(network_file, synthetic_root, tmp_path):
    full = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    sequence = Sequence(full.name, full.frames[:3], full.dataset, full.ground_truth_rect[:3])
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    params = tracker.get_parameters(debug=1)
    params.debug_dir = str(tmp_path)
    tracker.run_sequence(sequence, debug=1, params=params)
    assert sorted(p.name for p in (tmp_path / sequence.name).iterdir()) == ['00000.png', '00001.png', '00002.png']


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('option', [{'compile_backbone': True}, {'amp_dtype': 'float16'}, {'channels_last': True}])
def test_cuda_speed_options_match_float32(network_file, synthetic_root, option):
    assert largest_box_difference(network_file, synthetic_root, option, use_gpu=True) <= 4.0


def test_speed_benchmark_writes_the_table_5_figures(tmp_path):
    script = Path(__file__).resolve().parents[1] / 'pytracking' / 'util_scripts' / 'benchmark_speed.py'
    out = tmp_path / 'speed.json'
    subprocess.run([sys.executable, str(script), '--nets', 'cmd_student', '--frames', '2', '--repeats', '1',
                    '--no-train', '--json', str(out), '--backends', 'torch', 'onnxruntime', '--threads', '1'],
                   check=True, capture_output=True)
    result = json.loads(out.read_text())
    entry = result['nets']['cmd_student']
    assert result['device_type'] == 'cpu' and result['backends'] == ['torch', 'onnxruntime']
    assert result['threads'] == 1 and result['cpu']
    for measured in entry['backends'].values():           # where a frame's time goes (ms, medians)
        ms = measured['ms_per_frame']
        assert set(ms) == {'decode', 'crop', 'features', 'refine', 'update', 'other', 'total'}
        assert all(ms[part] > 0 for part in ('decode', 'crop', 'features', 'refine', 'total'))
        assert ms['features'] + ms['refine'] + ms['decode'] < ms['total'] < 4 * sum(ms.values())
    assert set(entry['backends']) == {'torch', 'onnxruntime'} and entry['fps'] == entry['backends']['torch']['fps']
    assert all(b['fps'] > 0 and b['init_s'] > 0 for b in entry['backends'].values())
    assert entry['params_m'] == pytest.approx(19.89, abs=0.01)
    assert entry['fps'] > 0 and entry['init_s'] > 0 and entry['peak_mem_mb'] > 0
    parts = entry['gflops_parts']
    assert parts['backbone'] == pytest.approx(resnet18_to_layer3_gflops(288) * 2, rel=1e-9)     # RGB and TIR
    assert parts['fusion'] == pytest.approx(mpsd_gflops(128, 36) + mpsd_gflops(256, 18), rel=1e-9)
    assert parts['iou_net'] > 0 and parts['update'] >= 0 and abs(parts['other']) < 1e-6 * entry['gflops']


def conv_gflops(c_in, c_out, kernel, size):
    return 2 * c_in * c_out * kernel * kernel * size * size / 1e9


def resnet18_to_layer3_gflops(crop):
    """Multiply-adds x 2 of ResNet18's convolutions up to layer3 (DiMP stops there), by hand."""
    stem, s1, s2, s3 = crop // 2, crop // 4, crop // 8, crop // 16
    total = conv_gflops(3, 64, 7, stem) + 4 * conv_gflops(64, 64, 3, s1)
    for c_in, c_out, size in ((64, 128, s2), (128, 256, s3)):
        total += conv_gflops(c_in, c_out, 3, size) + conv_gflops(c_in, c_out, 1, size)    # strided conv, shortcut
        total += 3 * conv_gflops(c_out, c_out, 3, size)
    return total


def mpsd_gflops(channels, size):
    """MPSD's matrix products: sa's 1x1 conv (2C -> 2) and the path-weight MLP (3C -> C -> 3)."""
    return conv_gflops(2 * channels, 2, 1, size) + 2 * (3 * channels * channels + channels * 3) / 1e9


def test_parallel_workers_give_the_sequential_results(network_file, synthetic_root, tmp_path, monkeypatch):
    sequences = get_dataset('synthetic', root=synthetic_root, require_frames=True)[:2]
    results = {}
    for threads in (0, 2):
        monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / f"threads{threads}"))
        tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
        statuses = run_dataset(sequences, [tracker], threads=threads)
        assert sorted(s['status'] for s in statuses) == ['done', 'done']
        results[threads] = [np.loadtxt(tracker.results_dir / f"{s.name}.txt", delimiter='\t') for s in sequences]
    for sequential, parallel in zip(results[0], results[2]):
        np.testing.assert_allclose(parallel, sequential, atol=1)      # integer boxes; thread counts round differently


class HostReads(TorchDispatchMode):
    """Counts reads of tensor values by the host (.item(), int(t), bool(t), 0-dim tensor indexing):
    each is a device synchronisation on a GPU, so the device-side per-frame code must have none."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_device_side_per_frame_code_never_reads_values_on_the_host():
    from ltr.models.target_classifier.optimizer import DiMPSteepestDescentGN
    params = localization_params()
    scores = torch.rand(18, 18, generator=torch.Generator().manual_seed(0))
    tracker = state_tracker()
    tracker.compute = StubRefinement([[10, 10, 40, 20], [12, 10, 44, 20], [200, 10, 300, 20]], [0.5, 0.6, 0.9])
    optimizer = DiMPSteepestDescentGN(num_iter=1, feat_stride=16)
    weights, feat = torch.randn(1, 8, 4, 4), torch.randn(5, 1, 8, 18, 18)
    boxes, sample_weight = torch.tensor([[100.0, 90.0, 40.0, 30.0]]).repeat(5, 1).view(5, 1, 4), torch.full((5,), 0.2)
    with HostReads() as reads:
        localize_advanced(scores, torch.tensor([3.0, 4.0]), torch.tensor([1.0, -2.0]), params)
        tracker.refine_target_box({}, torch.tensor([50.0, 100.0]), torch.tensor([20.0, 40.0]),
                                  torch.tensor([50.0, 100.0]), 1.0, torch.rand(9, 4) - 0.5)
        tracker.clamp_inside_image(torch.tensor([150.0, -30.0]), torch.tensor([20.0, 40.0]))
        optimizer(weights, feat, boxes, sample_weight=sample_weight, num_iter=1, compute_losses=False)
    assert reads.count == 0


def test_bad_frames_fail_only_their_sequence_with_the_file_named(network_file, synthetic_root, tmp_path, monkeypatch):
    """A truncated JPEG and a thermal frame of another size than its RGB frame."""
    import cv2
    root = tmp_path / 'syn'
    shutil.copytree(synthetic_root, root)
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / 'results'))
    sequences = get_dataset('synthetic', root=root, require_frames=True)
    truncated = Path(sequences[0].frames[3][0])
    truncated.write_bytes(truncated.read_bytes()[:500])
    resized = Path(sequences[1].frames[4][1])
    cv2.imwrite(str(resized), cv2.resize(cv2.imread(str(resized)), (80, 64)))
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    statuses = {s['sequence']: s for s in run_dataset(sequences, [tracker])}
    assert statuses[sequences[0].name]['status'] == 'failed'
    assert 'truncated' in statuses[sequences[0].name]['error'] and str(truncated) in statuses[sequences[0].name]['error']
    assert statuses[sequences[1].name]['status'] == 'failed' and str(resized) in statuses[sequences[1].name]['error']
    assert statuses[sequences[2].name]['status'] == 'done'
    params = tracker.get_parameters()
    params.resize_tir = True                      # the stated policy for rigs of two resolutions
    assert len(tracker.run_sequence(sequences[1], params=params)['target_bbox']) == len(sequences[1].frames)


def test_partial_results_are_tracked_again_and_another_network_is_refused(network_file, synthetic_root, tmp_path,
                                                                          monkeypatch):
    from pytracking.evaluation.running import ResultsMismatchError
    monkeypatch.setenv('RGBT_RESULTS_PATH', str(tmp_path / 'results'))
    sequences = get_dataset('synthetic', root=synthetic_root, require_frames=True)[:2]
    tracker = Tracker('cmd_student', 'synthetic', net_path=str(network_file))
    run_dataset(sequences, [tracker])
    (tracker.results_dir / f"{sequences[0].name}.txt").write_text('')
    lines = (tracker.results_dir / f"{sequences[1].name}.txt").read_text().splitlines()
    (tracker.results_dir / f"{sequences[1].name}.txt").write_text('\n'.join(lines[:5]) + '\n')
    statuses = run_dataset(sequences, [tracker])
    assert [s['status'] for s in statuses] == ['done', 'done']
    assert len(np.loadtxt(tracker.results_dir / f"{sequences[1].name}.txt")) == len(sequences[1].frames)
    assert [s['status'] for s in run_dataset(sequences, [tracker])] == ['skipped', 'skipped']

    torch.manual_seed(7)
    other = tmp_path / 'other.pth.tar'
    save_network(cmd_student(backbone_pretrained=False), other, settings={'output_sz': SAMPLE})
    with pytest.raises(ResultsMismatchError, match='holds results of network'):
        run_dataset(sequences, [Tracker('cmd_student', 'synthetic', net_path=str(other))])
    moved = tmp_path / 'moved.pth.tar'
    shutil.copy(network_file, moved)                # the same network from another path is the same network
    assert [s['status'] for s in run_dataset(sequences, [Tracker('cmd_student', 'synthetic', net_path=str(moved))])] \
        == ['skipped', 'skipped']


def test_a_teacher_given_to_the_student_tracker_is_tracked_with_a_warning(tmp_path):
    from rgbt.nets import cmd_teacher
    from pytracking.evaluation.tracker import load_parameters
    path = save_network(cmd_teacher(backbone_pretrained=False), tmp_path / 'teacher.pth.tar')
    params = load_parameters('cmd_student', 'default')
    params.net.path = str(path)
    with pytest.warns(UserWarning, match='holds a cmd_teacher network, not a cmd_student network'):
        net = params.net.load('cpu')
    assert net.two_stream


def test_tracking_prepares_a_copy_once_and_leaves_the_loaded_network_as_it_is(network_file, synthetic_root):
    from pytracking.evaluation.tracker import load_parameters
    params = load_parameters('cmd_student', 'default')
    params.update(use_gpu=False)
    params.net.path = str(network_file)
    loaded = params.net.load('cpu')
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    trackers = [Tracker('cmd_student', 'default').create_tracker(params) for _ in range(2)]
    for tracker in trackers:
        tracker.initialize(tuple(read_pair(sequence, 0)), sequence.init_info())
    assert trackers[0].net is trackers[1].net and trackers[0].net is not loaded        # one prepared copy
    after = loaded.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())              # not folded
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trackers[0].net.feature_extractor.modules())
    assert all(p.requires_grad for p in loaded.parameters())


def read_pair(sequence, index):
    from ltr.data.image_loader import read_frame_pair
    return read_frame_pair(*sequence.frames[index])


def test_an_unknown_amp_dtype_is_refused_also_with_a_prepared_network(network_file, synthetic_root):
    from pytracking.evaluation.tracker import load_parameters
    params = load_parameters('cmd_student', 'default')
    params.update(use_gpu=False)
    params.net.path = str(network_file)
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    image = tuple(read_pair(sequence, 0))
    Tracker('cmd_student', 'default').create_tracker(params).initialize(image, sequence.init_info())
    params.update(amp_dtype='int8')                       # the prepared network is cached already
    with pytest.raises(ValueError, match="amp_dtype must be one of"):
        Tracker('cmd_student', 'default').create_tracker(params).initialize(image, sequence.init_info())


def test_image_level_fusion_student_tracks(synthetic_root, tmp_path):
    """Table 4's MD student (RGB and TIR stacked at the input) runs through the same tracker."""
    from ltr.admin.loading import save_network
    from rgbt.nets import cmd_student
    torch.manual_seed(0)
    path = save_network(cmd_student(fusion='image', backbone_pretrained=False), tmp_path / 'md.pth.tar',
                        settings={'output_sz': SAMPLE})
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    boxes = np.array(Tracker('cmd_student', 'synthetic', net_path=str(path)).run_sequence(sequence)['target_bbox'])
    assert boxes.shape == (len(sequence), 4) and np.all(np.isfinite(boxes)) and np.all(boxes[:, 2:] > 0)
