"""The tracker's online learning schedule (DiMP's, pytracking's dimp18/dimp50 parameters), driven
by a scripted sequence of localisation states instead of real score maps."""
import math

import numpy as np
import pytest
import torch

from pytracking.tracker.rgbt_dimp import rgbt_dimp
from pytracking.tracker.rgbt_dimp.defaults import DEFAULTS
from pytracking.tracker.rgbt_dimp.localization import FLAGS
from pytracking.tracker.rgbt_dimp.rgbt_dimp import RGBTDiMP
from pytracking.features.net_wrappers import NetworkFile
from pytracking.utils.params import TrackerParams

from test_tracker import StubRefinement, state_tracker


def scripted_localisation(flags):
    """Replaces localize_advanced: zero displacement, the next scripted flag each frame."""
    script = iter(flags)

    def localize(scores, target_sz_cells, prev_disp, params):
        return torch.zeros(2), torch.tensor(FLAGS.index(next(script)))
    return localize


class Recorder:
    def __init__(self):
        self.optimiser_iterations = {}        # frame -> num_iter of each filter optimiser call
        self.learning_rates = {}              # frame -> learning rate of the sample weight update


def test_samples_learning_rates_and_iterations_follow_the_state(network_file, monkeypatch):
    """train_skipping 5 and a memory of 20 (DiMP: 20 and 50) keep the scripted sequence short."""
    flags = ['normal'] * 16                                                            # frames 2..17
    flags[3], flags[4], flags[5] = 'uncertain', 'not_found', 'hard_negative'          # frames 5, 6, 7
    flags[11], flags[14] = 'hard_negative', 'uncertain'                               # frames 13, 16
    frames = list(range(2, 2 + len(flags)))                                           # the first is frame 1
    monkeypatch.setattr(rgbt_dimp, 'localize_advanced', scripted_localisation(flags))
    tracker = RGBTDiMP(TrackerParams(DEFAULTS, net=NetworkFile(str(network_file)), use_gpu=False, use_iou_net=False,
                                     train_skipping=5, sample_memory_size=20))
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    tracker.initialize(image, {'init_bbox': [60, 40, 30, 24]})
    record = Recorder()
    real_update = rgbt_dimp.update_sample_weights

    def update_sample_weights(weights, previous, num_stored, num_init, learning_rate, init_min_weight):
        record.learning_rates[tracker.frame_num] = learning_rate
        return real_update(weights, previous, num_stored, num_init, learning_rate, init_min_weight)
    monkeypatch.setattr(rgbt_dimp, 'update_sample_weights', update_sample_weights)
    tracker.net.classifier.filter_optimizer.register_forward_pre_hook(
        lambda module, args, kwargs: record.optimiser_iterations.setdefault(tracker.frame_num, []).append(
            kwargs['num_iter']), with_kwargs=True)
    stored = [tracker.num_stored_samples]
    for _ in frames:
        tracker.track(image)
        stored.append(tracker.num_stored_samples)

    learns = [int(flag in ('normal', 'hard_negative')) for flag in flags]
    assert sorted(record.learning_rates) == [f for f, learn in zip(frames, learns) if learn]
    assert stored == np.minimum(15 + np.cumsum([0] + learns), 20).tolist()        # 15 initial samples, then full
    assert {f: lr for f, lr in record.learning_rates.items() if lr != 0.01} == {7: 0.02, 13: 0.02}
    # Two iterations on the normal frames with (frame - 1) % 5 == 0 (11; 6 is not_found, 16 uncertain),
    # one on hard negatives, none otherwise.
    assert record.optimiser_iterations == {7: [1], 11: [2], 13: [1]}


def test_learning_defaults_are_dimps():
    """pytracking's dimp18/dimp50 parameter files (see ../shared/specs): the values the test above scales down."""
    assert (DEFAULTS['learning_rate'], DEFAULTS['hard_negative_learning_rate']) == (0.01, 0.02)
    assert (DEFAULTS['train_skipping'], DEFAULTS['sample_memory_size']) == (20, 50)
    assert (DEFAULTS['net_opt_iter'], DEFAULTS['net_opt_update_iter'], DEFAULTS['net_opt_hn_iter']) == (10, 2, 1)


def refined_frame(update_scale_when_uncertain=True, use_iounet_pos_for_learning=True, flag='uncertain'):
    """One localize_and_refine on a stub tracker whose refinement returns a known box."""
    tracker = state_tracker()
    tracker.params = TrackerParams(DEFAULTS, update_scale_when_uncertain=update_scale_when_uncertain,
                                   use_iounet_pos_for_learning=use_iounet_pos_for_learning)
    tracker.compute = StubRefinement([[60.0, 30.0, 50.0, 24.0]] * 3, [0.9, 0.8, 0.7])
    tracker_flags = iter([flag])
    original = rgbt_dimp.localize_advanced
    rgbt_dimp.localize_advanced = lambda *args: (torch.tensor([1.0, -2.0]), torch.tensor(FLAGS.index(next(tracker_flags))))
    try:
        return tracker.localize_and_refine(torch.zeros(18, 18), {}, torch.tensor([50.0, 100.0]), 1.0)
    finally:
        rgbt_dimp.localize_advanced = original


def test_uncertain_frames_update_the_scale_only_when_configured():
    refined_scale = math.sqrt(24 / 20 * 50 / 40)             # the stub's box against the base size (20, 40)
    _, _, size, scale = refined_frame(update_scale_when_uncertain=True)
    assert size.tolist() == [24.0, 50.0] and float(scale) == pytest.approx(refined_scale)
    _, _, size, scale = refined_frame(update_scale_when_uncertain=False)
    assert size.tolist() == [24.0, 50.0] and float(scale) == 1.0        # size refined, scale kept
    _, _, _, scale = refined_frame(update_scale_when_uncertain=False, flag='normal')
    assert float(scale) == pytest.approx(refined_scale)


def test_position_comes_from_the_iou_net_only_when_configured():
    refined_centre = [42.0 - 143.5 + 50.0, 85.0 - 143.5 + 100.0]      # the stub box's centre in the image
    _, pos, _, _ = refined_frame(use_iounet_pos_for_learning=True)
    assert pos.tolist() == pytest.approx(refined_centre)
    _, pos, _, _ = refined_frame(use_iounet_pos_for_learning=False)
    cell = 16.0                                                         # feature stride x sample scale 1
    assert pos.tolist() == pytest.approx([50.0 + 1.0 * cell, 100.0 - 2.0 * cell])     # the score map's peak


def test_refinement_start_boxes_are_jittered_by_position_and_size():
    """Start boxes: the current box, then centre += noise x 0.1 x sqrt(area), size += noise x 0.5 x
    sqrt(area), sizes at least a third of the shorter side (noise uniform in [-0.5, 0.5])."""
    tracker = state_tracker()
    box = torch.tensor([10.0, 20.0, 40.0, 10.0])                 # x, y, w, h: sqrt(area) = 20
    noise = torch.tensor([[0.5, -0.5, 0.2, -0.4], [0.0, 0.25, -0.5, -0.5]])
    boxes = tracker.random_init_boxes(box, noise)
    # Row 1: centre (30, 25) + (1, -1); size (40 + 2, max(10 - 4, 10 / 3)) = (42, 6).
    # Row 2: centre (30, 25) + (0, 0.5); size (40 - 5, max(10 - 5, 10 / 3)) = (35, 5).
    expected = [[10.0, 20.0, 40.0, 10.0], [31 - 21, 24 - 3, 42, 6], [30 - 17.5, 25.5 - 2.5, 35, 5]]
    torch.testing.assert_close(boxes, torch.tensor(expected))
    small = tracker.random_init_boxes(box, torch.tensor([[0.0, 0.0, -0.5, -0.5]]) * 4)   # shrinks below a third
    assert small[1, 2:].tolist() == pytest.approx([40.0 - 20.0, 10 / 3])
