"""Fusion modules against values worked out by hand (Eqs. 4-6 and the Table 3 baselines), with
weights set to known numbers: the expected outputs are written with Python floats, not with the
modules' own tensor code."""
import math

import pytest
import torch

from rgbt.fusion import (MPSD, ChannelAttentionFusion, ConcatFusion, MDCFRSFusion, SpatialAttentionFusion,
                         create_fusion)


def softmax(*logits):
    exps = [math.exp(v) for v in logits]
    return [e / sum(exps) for e in exps]


def one_channel(values):
    """A (1, 1, 1, len(values)) map: one sample, one channel, one row of pixels."""
    return torch.tensor(values, dtype=torch.float64).view(1, 1, 1, -1)


def set_linear(layer, weight, bias):
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=layer.weight.dtype).view_as(layer.weight))
        layer.bias.copy_(torch.tensor(bias, dtype=layer.bias.dtype).view_as(layer.bias))


def spatial_attention_by_hand(rgb, tir, w_rgb, w_tir, b, gate):
    """sa(.) of Eq. 5 for one channel: logits_k = w_rgb[k] rgb + w_tir[k] tir + b[k]."""
    out = []
    for r, t in zip(rgb, tir):
        logits = [w_rgb[k] * r + w_tir[k] * t + b[k] for k in (0, 1)]
        weights = softmax(*logits) if gate == 'softmax' else [1 / (1 + math.exp(-v)) for v in logits]
        out.append(weights[0] * r + weights[1] * t)
    return out


SA_WEIGHTS = dict(w_rgb=[0.5, -1.0], w_tir=[2.0, 0.25], b=[0.1, -0.3])
RGB, TIR = [1.0, -2.0, 0.5], [3.0, 0.5, -1.0]


@pytest.mark.parametrize('gate', ['softmax', 'sigmoid'])
def test_spatial_attention_eq5_by_hand(gate):
    module = SpatialAttentionFusion(1, gate=gate).double()
    # conv weight (2 out, 2 in = [rgb, tir]): row k holds (w_rgb[k], w_tir[k]).
    set_linear(module.conv, [[SA_WEIGHTS['w_rgb'][k], SA_WEIGHTS['w_tir'][k]] for k in (0, 1)], SA_WEIGHTS['b'])
    out = module(one_channel(RGB), one_channel(TIR)).flatten().tolist()
    assert out == pytest.approx(spatial_attention_by_hand(RGB, TIR, gate=gate, **SA_WEIGHTS), rel=1e-12)


def test_mpsd_paths_and_eq6_weights_by_hand():
    module = MPSD(1).double()
    set_linear(module.spatial_attention.conv, [[SA_WEIGHTS['w_rgb'][k], SA_WEIGHTS['w_tir'][k]] for k in (0, 1)],
               SA_WEIGHTS['b'])
    # fc: 3 -> 1 -> 3. h = relu(max1 - max2 + 0.5 max3); logits = (h, 0, -2h) + (0, 0.2, 0).
    set_linear(module.fc[0], [[1.0, -1.0, 0.5]], [0.0])
    set_linear(module.fc[2], [[1.0], [0.0], [-2.0]], [0.0, 0.2, 0.0])
    fused, paths, weights = module.forward_with_paths(one_channel(RGB), one_channel(TIR))

    sa = spatial_attention_by_hand(RGB, TIR, gate='softmax', **SA_WEIGHTS)
    product = [r * t for r, t in zip(RGB, TIR)]              # Eq. 4: 3, -1, -0.5
    difference = [r - t for r, t in zip(RGB, TIR)]           # Eq. 4: -2, -2.5, 1.5
    maxima = [max(sa), max(product), max(difference)]        # global max pooling per path
    h = max(0.0, maxima[0] - maxima[1] + 0.5 * maxima[2])
    expected_weights = softmax(h, 0.2, -2 * h)
    assert weights.flatten().tolist() == pytest.approx(expected_weights, rel=1e-12)
    assert paths[0].flatten().tolist() == pytest.approx(sa, rel=1e-12)
    expected = [sum(w * p[i] for w, p in zip(expected_weights, (sa, product, difference))) for i in range(3)]
    assert fused.flatten().tolist() == pytest.approx(expected, rel=1e-12)


def test_mpsd_weights_are_per_sample():
    """Eq. 6 selects paths per sample: two samples with different maxima get different weights."""
    module = MPSD(1).double()
    set_linear(module.fc[0], [[0.0, 1.0, 0.0]], [0.0])       # h = relu(max of the product path)
    set_linear(module.fc[2], [[1.0], [0.0], [0.0]], [0.0, 0.0, 0.0])
    rgb = torch.tensor([[2.0, 1.0], [0.5, 0.5]], dtype=torch.float64).view(2, 1, 1, 2)
    tir = torch.tensor([[3.0, 1.0], [1.0, -1.0]], dtype=torch.float64).view(2, 1, 1, 2)
    weights = module.forward_with_paths(rgb, tir)[2]
    assert weights[0].tolist() == pytest.approx(softmax(6.0, 0.0, 0.0), rel=1e-12)      # max(2*3, 1*1) = 6
    assert weights[1].tolist() == pytest.approx(softmax(0.5, 0.0, 0.0), rel=1e-12)      # max(0.5, -0.5)


def test_concat_fusion_by_hand():
    module = ConcatFusion(2).double()
    set_linear(module.conv, [[1.0, 0.0, 2.0, 0.0], [0.0, -1.0, 0.0, 0.5]], [0.5, 0.0])
    rgb = torch.tensor([1.0, 2.0], dtype=torch.float64).view(1, 2, 1, 1)
    tir = torch.tensor([3.0, 4.0], dtype=torch.float64).view(1, 2, 1, 1)
    assert module(rgb, tir).flatten().tolist() == pytest.approx([1 + 6 + 0.5, -2 + 2], rel=1e-12)


def test_channel_attention_fusion_by_hand():
    """CAF: per channel c, softmax over (logit_rgb[c], logit_tir[c]) weights the two modalities."""
    module = ChannelAttentionFusion(4).double()                    # 8 -> 1 -> 8
    set_linear(module.fc[0], [[0.0] * 8], [1.0])                   # hidden unit = relu(1) = 1
    logits = [0.0, 1.0, -1.0, 2.0, 0.5, 0.0, 1.0, -2.0]            # rgb channels 0-3, then tir
    set_linear(module.fc[2], [[v] for v in logits], [0.0] * 8)
    rgb = torch.arange(1.0, 5.0, dtype=torch.float64).view(1, 4, 1, 1).expand(1, 4, 2, 2)
    tir = -torch.arange(1.0, 5.0, dtype=torch.float64).view(1, 4, 1, 1).expand(1, 4, 2, 2)
    out = module(rgb, tir)[0, :, 0, 0].tolist()
    expected = []
    for c in range(4):
        w_rgb, w_tir = softmax(logits[c], logits[4 + c])
        expected.append(w_rgb * (c + 1) - w_tir * (c + 1))
    assert out == pytest.approx(expected, rel=1e-12)


def test_teacher_fusion_mdc_and_frs_by_hand():
    """TF (a reconstruction of MFNet's MDC + FRS): with the gate's conv at zero, BatchNorm at its
    initial statistics (eval) gives gates of sigmoid(0) = 0.5; identity cross projections give
    rgb' = rgb + tir / 2 and tir' = tir + rgb' / 2; FRS with a zero fc averages rgb', tir', fused."""
    module = MDCFRSFusion(2).double().eval()
    mdc = module.mdc
    with torch.no_grad():
        mdc.gate[0].weight.zero_()
        mdc.tir_to_rgb.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        mdc.rgb_to_tir.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        # fused channel c = relu(rgb'_c - tir'_c) (input channels: rgb'_0, rgb'_1, tir'_0, tir'_1)
        mdc.fuse[0].weight.copy_(torch.tensor([[1.0, 0, -1, 0], [0, 1, 0, -1]]).view(2, 4, 1, 1))
        for layer in (module.frs.fc[0], module.frs.fc[2]):
            layer.weight.zero_()
            layer.bias.zero_()
    eps = mdc.fuse[1].eps
    rgb = torch.tensor([RGB, TIR], dtype=torch.float64).view(1, 2, 1, 3)       # channel 1: other values
    tir = torch.tensor([TIR, RGB], dtype=torch.float64).view(1, 2, 1, 3)
    out = module(rgb, tir)[0, :, 0].tolist()
    for channel, (rgb_values, tir_values) in enumerate(((RGB, TIR), (TIR, RGB))):
        expected = []
        for r, t in zip(rgb_values, tir_values):
            r2 = r + 0.5 * t
            t2 = t + 0.5 * r2
            fused = max(0.0, (r2 - t2) / math.sqrt(1 + eps))
            expected.append((r2 + t2 + fused) / 3)
        assert out[channel] == pytest.approx(expected, rel=1e-12)


def test_teacher_fusion_starts_as_plain_streams():
    """zero_init_compensation (our default): at initialisation MDC passes both streams unchanged."""
    mdc = MDCFRSFusion(3).mdc.eval()
    rgb, tir = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    rgb_c, tir_c, _ = mdc(rgb, tir)
    assert torch.equal(rgb_c, rgb) and torch.equal(tir_c, tir)


@pytest.mark.parametrize('name', ['mpsd', 'saf', 'caf', 'concat', 'tf'])
def test_fusion_gradients_float64(name):
    torch.manual_seed(0)
    module = create_fusion(name, 4).double().eval()
    rgb = torch.randn(2, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    tir = torch.randn(2, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (rgb, tir), fast_mode=True)
