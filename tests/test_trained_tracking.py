"""A trained network tracks: a Student-Origin trained for a few dozen iterations (seeded, on a
small synthetic training split, the real training code) tracks unseen synthetic sequences far
better than the same network with random weights. Random weights leave the tracker's success rate
near chance whatever the tracker does, so only a trained network shows a broken localisation,
filter initialisation or online update.

The box refinement is off in this test: at this training budget the IoU-Net is not trained enough
to help (measured, 2-core CPU: SR 17.7 with the refinement, 33.8 without, after 60 iterations); the
refinement is checked against hand-made cases in test_tracker.py."""
import numpy as np
import pytest
import torch

from ltr.admin.loading import save_network
from pytracking.analysis.evaluation import iou_ltwh
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.tracker import Tracker
from rgbt.miniature import checkpoint_dir, train_setting
from rgbt.nets import cmd_student
from rgbt.synthetic import SequenceSpec, generate_benchmark

from conftest import SAMPLE

ITERATIONS = 40                # two epochs of 20 (batch 2, 128x128 crops): about a minute on 2 CPU cores
MIN_SR = 27.0                  # measured 34.9 (2-core CPU, 2 threads); random weights 19.9
# Refinement off (see above); the filter is optimised every 2nd frame instead of every 20th, so that
# the online update acts within 40 frames.
TRACKING = {'use_iou_net': False, 'train_skipping': 2}


def success_rate(net_path, sequences, **overrides) -> float:
    """Area under the success curve (thresholds 0, 0.05, ..., 1), first frames excluded, in percent."""
    overlaps = []
    for sequence in sequences:
        boxes = Tracker('cmd_student', 'synthetic', net_path=str(net_path),
                        param_overrides={**TRACKING, **overrides}).run_sequence(sequence)['target_bbox']
        overlaps.append(iou_ltwh(np.array(boxes)[1:], sequence.ground_truth_rect[1:]))
    overlaps = np.concatenate(overlaps)
    return 100 * float(np.mean([(overlaps > t).mean() for t in np.linspace(0, 1, 21)]))


@pytest.fixture(scope='module', autouse=True)
def two_torch_threads():
    """The trained network, and so the success rate, depend on the float rounding of training, which
    depends on torch's thread count: the same seed gave SR 34.9 trained with 2 threads and 24.7 with
    1 (and 23.6 when OMP_NUM_THREADS=1 reached the training). Training is pinned through its config,
    tracking here; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def trained_and_random(tmp_path_factory, two_torch_threads):
    workspace = tmp_path_factory.mktemp('trained')
    train = generate_benchmark(workspace / 'train', 'rgbt234', {'train': 4, 'test': 1},
                               SequenceSpec(num_frames=50, width=160, height=128), seed=5, progress=False)
    train_setting(workspace, 'student', ITERATIONS, 'cpu', seed=0, synthetic=train, epochs=2, overrides={'threads': 2})
    torch.manual_seed(0)
    random = save_network(cmd_student(fusion='concat', backbone_pretrained=False), workspace / 'random.pth.tar',
                          settings={'output_sz': SAMPLE})
    return checkpoint_dir(workspace, 'student'), random


@pytest.fixture(scope='module')
def test_sequences(tmp_path_factory):
    root = generate_benchmark(tmp_path_factory.mktemp('test'), 'rgbt234', {'train': 1, 'test': 3},
                              SequenceSpec(num_frames=40, width=160, height=128), seed=2, progress=False)
    return get_dataset('synthetic', root=root, require_frames=True)


def test_a_trained_student_tracks_unseen_sequences_far_better_than_random_weights(trained_and_random,
                                                                                    test_sequences):
    trained, random = trained_and_random
    trained_sr, random_sr = success_rate(trained, test_sequences), success_rate(random, test_sequences)
    assert trained_sr > MIN_SR, (trained_sr, random_sr)
    assert trained_sr > random_sr + 10, (trained_sr, random_sr)
    # The online update helps a trained network (measured 34.9 against 30.7 without it; an update that
    # stores boxes 16 px off gave 25.6, and a flipped localisation step 3.6).
    frozen_sr = success_rate(trained, test_sequences, update_classifier=False)
    assert trained_sr > frozen_sr + 2, (trained_sr, frozen_sr)
