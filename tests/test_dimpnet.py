"""DiMP-18/50 networks: pytracking's state_dict layout, forward shapes, classifier oracles."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from ltr.data.processing_utils import gaussian_label_function
from ltr.models.bbreg.atom_iou_net import AtomIoUNet
from ltr.models.layers.distance import DistanceMap
from ltr.models.layers.normalization import InstanceL2Norm
from ltr.models.loss.target_classification import LBHinge
from ltr.models.target_classifier.filter import apply_feat_transpose, apply_filter
from ltr.models.target_classifier.initializer import FilterInitializerLinear
from ltr.models.target_classifier.optimizer import DiMPSteepestDescentGN
from ltr.models.tracking.dimpnet import dimpnet18, dimpnet50

TRAINED_KWARGS = dict(filter_size=4, optim_iter=5, optim_init_step=0.9, optim_init_reg=0.1, init_gauss_sigma=0.9,
                      num_dist_bins=100, bin_displacement=0.1, mask_init_factor=3.0, backbone_pretrained=False)


@pytest.fixture(scope='module')
def net18():
    return dimpnet18(**TRAINED_KWARGS)


@pytest.mark.parametrize('name, constructor, num_params', [('dimp18', dimpnet18, 19.65e6),
                                                          ('dimp50', dimpnet50, 43.10e6)])
def test_state_dict_equals_pytracking_layout(shared_specs, name, constructor, num_params):
    reference = json.loads((shared_specs / 'dimp_state_dict_keys.json').read_text())[name]
    net = constructor(**TRAINED_KWARGS)
    state = net.state_dict()
    assert list(state) == list(reference)
    assert {k: list(v.shape) for k, v in state.items()} == reference
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(num_params, abs=0.005e6)

    # A checkpoint in that layout (fresh random tensors of the listed shapes) loads strictly.
    foreign = {k: (torch.tensor(7) if k.endswith('num_batches_tracked') else torch.randn(shape))
               for k, shape in reference.items()}
    fresh = constructor(**TRAINED_KWARGS)
    fresh.load_state_dict(foreign, strict=True)
    assert torch.equal(fresh.state_dict()['bb_regressor.iou_predictor.weight'], foreign['bb_regressor.iou_predictor.weight'])


def test_training_forward_shapes_and_gradients(net18):
    images, sequences, proposals = 3, 2, 8
    train = torch.randn(images, sequences, 3, 288, 288)
    test = torch.randn(images, sequences, 3, 288, 288)
    bb = torch.tensor([100., 110., 60., 50.]).expand(images, sequences, 4)
    props = bb.unsqueeze(2) + 4 * torch.randn(images, sequences, proposals, 4)
    scores, iou = net18(train, test, bb, props)
    assert len(scores) == 1 + 5
    assert all(s.shape == (images, sequences, 19, 19) for s in scores)
    assert iou.shape == (images, sequences, proposals)
    (sum(s.square().mean() for s in scores) + iou.mean()).backward()
    unused = ('feature_extractor.layer4', 'feature_extractor.fc')
    for name, param in net18.named_parameters():
        assert (param.grad is None) == name.startswith(unused), name
    net18.zero_grad(set_to_none=True)


def test_dimpnet50_forward_shapes():
    net = dimpnet50(**TRAINED_KWARGS)
    bb = torch.tensor([90., 100., 70., 40.]).expand(1, 2, 4)
    scores, iou = net(torch.randn(1, 2, 3, 288, 288), torch.randn(1, 2, 3, 288, 288), bb, bb.unsqueeze(2).repeat(1, 1, 3, 1))
    assert scores[-1].shape == (1, 2, 19, 19) and iou.shape == (1, 2, 3)


def test_extract_features_returns_requested_layers(net18):
    feats = net18.extract_features(torch.randn(2, 3, 288, 288), ['layer2', 'classification'])
    assert list(feats) == ['layer2', 'classification']
    assert feats['layer2'].shape == (2, 128, 36, 36)
    assert feats['classification'].shape == (2, 256, 18, 18)


def test_apply_feat_transpose_is_the_adjoint_of_apply_filter():
    feat = torch.randn(3, 2, 5, 18, 18, dtype=torch.float64)
    weights = torch.randn(2, 5, 4, 4, dtype=torch.float64, requires_grad=True)
    score_grad = torch.randn(3, 2, 19, 19, dtype=torch.float64)
    scores = apply_filter(feat, weights)
    assert scores.shape == (3, 2, 19, 19)
    # Oracle 1: the Jacobian transpose from autograd.
    (autograd_grad,) = torch.autograd.grad((scores * score_grad).sum(), weights)
    torch.testing.assert_close(apply_feat_transpose(feat, score_grad, 4), autograd_grad)
    # Oracle 2: brute-force correlation for one sequence.
    padded = F.pad(feat[:, 1], (2, 2, 2, 2))
    brute = torch.zeros(5, 4, 4, dtype=torch.float64)
    for u in range(4):
        for v in range(4):
            brute[:, u, v] = (padded[:, :, u:u + 19, v:v + 19] * score_grad[:, 1, None]).sum(dim=(0, 2, 3))
    torch.testing.assert_close(apply_feat_transpose(feat, score_grad, 4)[1], brute)


def test_distance_map_bins():
    dmap = DistanceMap(num_bins=5, bin_displacement=1.0)
    out = dmap(torch.tensor([[2.0, 3.0]]), (6, 7))
    assert out.shape == (1, 5, 6, 7)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(1, 6, 7))
    # Cell (y=2, x=4) is at distance 1: all weight in bin 1; cell (4, 3) is at distance 2.
    assert out[0, 1, 2, 4] == 1.0 and out[0, 2, 4, 3] == 1.0
    # Distance sqrt(2) ~ 1.414: bins 1 and 2 share 0.586 / 0.414.
    assert out[0, 1, 3, 4].item() == pytest.approx(2 - math.sqrt(2))
    assert out[0, 2, 3, 4].item() == pytest.approx(math.sqrt(2) - 1)
    # Far away, the last bin saturates at 1.
    assert dmap(torch.tensor([[0.0, 0.0]]), (30, 30))[0, 4, 29, 29] == 1.0


def test_instance_l2_norm():
    x = torch.randn(4, 8, 5, 5)
    y = InstanceL2Norm(scale=0.5, eps=0.0)(x)
    norms = y.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full((4,), 0.5 * math.sqrt(8 * 25)))


def test_lbhinge_closed_form():
    prediction = torch.tensor([[-0.5, 0.3, 0.8, -0.2]])
    label = torch.tensor([[0.0, 0.01, 0.9, 0.5]])
    # Background (label < 0.05): relu(pred) regressed to 0 -> 0, 0.3; target: pred - label -> -0.1, -0.7.
    expected = (0.0 + 0.3 ** 2 + 0.1 ** 2 + 0.7 ** 2) / 4
    assert LBHinge(threshold=0.05)(prediction, label).item() == pytest.approx(expected)


def test_gaussian_label_peak_at_centre_over_stride():
    boxes = torch.tensor([[134., 130., 20., 60.], [40., 200., 30., 30.]])
    labels = gaussian_label_function(boxes, 0.05, 4, 18, 288)
    assert labels.shape == (2, 19, 19)
    sigma = 0.05 * 18
    for label, box in zip(labels, boxes):
        cx, cy = (box[:2] + box[2:] / 2) / 16      # label cell of the centre
        ys, xs = torch.meshgrid(torch.arange(19.), torch.arange(19.), indexing='ij')
        expected = torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma ** 2))
        torch.testing.assert_close(label, expected)


def test_steepest_descent_reduces_classifier_loss():
    torch.manual_seed(3)
    images, sequences, channels = 4, 2, 16
    feat = 0.3 * torch.randn(images, sequences, channels, 18, 18)
    bb = torch.tensor([[120., 100., 48., 64.], [60., 150., 40., 40.]]).expand(images, sequences, 4)
    # Make the target region distinctive so that a filter can separate it.
    feat[:, 0, :, 6:10, 8:11] += 1.0
    feat[:, 1, :, 9:12, 4:7] -= 1.0
    optimizer = DiMPSteepestDescentGN(num_iter=10, init_step_length=0.9, init_filter_reg=0.1, init_gauss_sigma=0.9,
                                      num_dist_bins=100, bin_displacement=0.1, mask_init_factor=3.0)
    initial = FilterInitializerLinear(filter_size=4, feature_dim=channels)(feat, bb).detach()
    with torch.no_grad():
        _, iterates, losses = optimizer(initial, feat, bb)
    losses = torch.stack(losses)
    assert len(iterates) == 11 and len(losses) == 11
    assert torch.all(losses[1:] <= losses[:-1] + 1e-6), losses
    assert losses[-1] < 0.5 * losses[0]


def test_iou_net_coordinate_gradient_exists():
    net = AtomIoUNet().eval()
    feat = [torch.randn(1, 128, 36, 36), torch.randn(1, 256, 18, 18)]
    modulation = net.get_modulation(feat, torch.tensor([[100., 100., 60., 60.]]))
    iou_feat = net.get_iou_feat(feat)
    boxes = torch.tensor([[[98., 104., 58., 66.], [80., 90., 80., 50.]]], requires_grad=True)
    iou = net.predict_iou(modulation, iou_feat, boxes)
    assert iou.shape == (1, 2)
    iou.sum().backward()
    assert boxes.grad.abs().sum() > 0 and torch.isfinite(boxes.grad).all()


def _randomise_batch_norm_statistics(net, generator):
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(module.num_features, generator=generator) * 0.1)


@pytest.mark.parametrize('constructor', ['cmd_student', 'cmd_teacher'])
def test_fold_batch_norm_keeps_the_outputs_of_the_cmd_nets(constructor):
    from ltr.models.layers.blocks import fold_batch_norm
    from rgbt import nets
    generator = torch.Generator().manual_seed(0)
    net = getattr(nets, constructor)(backbone_pretrained=False).double()
    _randomise_batch_norm_statistics(net, generator)
    net.eval()
    rgb, tir = torch.rand(2, 1, 3, 96, 96, generator=generator, dtype=torch.float64)
    box = torch.tensor([[30.0, 28.0, 30.0, 36.0]], dtype=torch.float64)
    proposals = torch.tensor([[[25.0, 30.0, 34.0, 30.0], [33.0, 20.0, 20.0, 40.0]]], dtype=torch.float64)

    def outputs():
        with torch.no_grad():
            fused = net.extract_features(rgb, tir)
            clf = net.extract_classification_feat(fused)
            layers = [fused[name] for name in net.bb_regressor_layer]
            modulation = net.bb_regressor.get_modulation(layers, box)
            iou = net.bb_regressor.predict_iou(modulation, net.bb_regressor.get_iou_feat(layers), proposals)
        return [clf, iou] + layers

    before = outputs()
    batch_norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    folded = fold_batch_norm(net)
    # Every BatchNorm of the backbones, the fusion, the classifier features and the IoU-Net follows
    # a conv or linear layer in a known pattern.
    remaining = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert folded == batch_norms and remaining == 0
    for old, new in zip(before, outputs()):
        torch.testing.assert_close(new, old, rtol=1e-9, atol=1e-9)
    assert fold_batch_norm(net) == 0                        # nothing left to fold
    with pytest.raises(ValueError, match='eval mode'):
        fold_batch_norm(net.train())
