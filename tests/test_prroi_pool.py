"""Precise RoI Pooling against closed-form and brute-force references."""
import pytest
import torch
import torch.nn.functional as F

from ltr.models.bbreg.atom_iou_net import AtomIoUNet
from ltr.models.layers.prroi_pool import PooledBoxes, PrRoIPool2D, prroi_pool2d


def dense_reference(features, roi, pooled_h, pooled_w, scale, samples=96):
    """Midpoint-rule integral of the bilinear interpolation (grid_sample, zeros outside) over each bin."""
    batch, x1, y1, x2, y2 = roi.tolist()
    x1, y1, x2, y2 = x1 * scale, y1 * scale, x2 * scale, y2 * scale
    bin_w, bin_h = max(x2 - x1, 0) / pooled_w, max(y2 - y1, 0) / pooled_h
    feat = features[int(batch):int(batch) + 1]
    height, width = feat.shape[-2:]
    if bin_w * bin_h == 0:
        return feat.new_zeros(feat.shape[1], pooled_h, pooled_w)
    offsets = (torch.arange(samples, dtype=feat.dtype) + 0.5) / samples
    ys = (y1 + bin_h * (torch.arange(pooled_h, dtype=feat.dtype)[:, None] + offsets)).flatten()
    xs = (x1 + bin_w * (torch.arange(pooled_w, dtype=feat.dtype)[:, None] + offsets)).flatten()
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
    # align_corners=True puts sample k at coordinate k; zero padding reads 0 outside, as PrRoIPool.
    grid = torch.stack((2 * grid_x / (width - 1) - 1, 2 * grid_y / (height - 1) - 1), dim=-1)[None]
    values = F.grid_sample(feat, grid, mode='bilinear', padding_mode='zeros', align_corners=True)[0]
    values = values.reshape(feat.shape[1], pooled_h, samples, pooled_w, samples)
    return values.mean(dim=(2, 4))


def test_oracle_equals_average_pooling():
    features = torch.randn(2, 5, 16, 16, dtype=torch.float64)
    pool = PrRoIPool2D(7, 7, 0.5)
    out = pool(features, torch.tensor([[1, 0, 0, 14, 14]], dtype=torch.float64))
    expected = F.avg_pool2d(features[1:2], kernel_size=2, stride=1)[:, :, :7, :7]
    assert out.shape == (1, 5, 7, 7)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('roi', [
    [0, 3.3, 4.1, 20.7, 17.9],        # inside
    [1, -6.2, -3.5, 9.4, 12.2],       # partly outside (top-left)
    [0, 25.5, 18.3, 40.1, 33.7],      # partly outside (bottom-right)
    [1, -9.0, -8.0, -3.0, -2.5],      # fully outside: zero
    [0, -2.6, 5.0, -0.4, 9.0],        # outside but within one pixel of the border: non-zero
    [1, 10.2, 11.7, 10.5, 11.9],      # sub-pixel box
    [0, 12.0, 12.0, 12.0, 20.0],      # zero width: empty bins give 0
])
def test_matches_dense_numerical_integration(roi):
    features = torch.randn(2, 3, 15, 17, dtype=torch.float64)
    roi = torch.tensor([roi], dtype=torch.float64)
    out = prroi_pool2d(features, roi, 3, 4, 0.5)[0]
    expected = dense_reference(features, roi[0], 3, 4, 0.5)
    torch.testing.assert_close(out, expected, rtol=0, atol=2e-3)


def test_fully_outside_is_zero_and_partly_outside_keeps_area_in_denominator():
    features = torch.ones(1, 1, 10, 10, dtype=torch.float64)
    far = prroi_pool2d(features, torch.tensor([[0, -20., -20., -12., -12.]], dtype=torch.float64), 1, 1, 1.0)
    assert far.item() == 0.0
    # Box [-4, 5] x [0, 9] over a map of ones: f = 1 on [0, 9], linear ramp on [-1, 0], 0 before.
    # Integral over x: 9 + 0.5 = 9.5 of width 9 (+4 outside) -> mean 9.5 / 13; over y: 9 / 9 = 1.
    half = prroi_pool2d(features, torch.tensor([[0, -4., 0., 9., 9.]], dtype=torch.float64), 1, 1, 1.0)
    assert half.item() == pytest.approx(9.5 / 13, abs=1e-12)


def test_many_rois_grouped_by_image_match_one_by_one():
    features = torch.randn(3, 4, 12, 12, dtype=torch.float64)
    rois = torch.tensor([[2, 1., 1., 8., 9.], [0, 0.5, 2., 6., 7.], [2, 3., 3., 11., 10.],
                         [1, -1., -1., 4., 4.], [2, 0., 0., 12., 12.]], dtype=torch.float64)
    together = prroi_pool2d(features, rois, 2, 3, 1.0)
    one_by_one = torch.cat([prroi_pool2d(features, r[None], 2, 3, 1.0) for r in rois])
    torch.testing.assert_close(together, one_by_one, rtol=0, atol=1e-12)


def test_float32_matches_float64():
    features = torch.randn(2, 8, 18, 18, dtype=torch.float64)
    rois = torch.tensor([[0, 10., 20., 200., 180.], [1, -30., 40., 100., 300.]], dtype=torch.float64)
    out64 = prroi_pool2d(features, rois, 5, 5, 1 / 16)
    out32 = prroi_pool2d(features.float(), rois.float(), 5, 5, 1 / 16)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('batch_index', [
    [1, 0, 1],      # unordered: RoIs placed in padded per-image slots
    [0, 0, 0],      # one image: the tracker's refinement (grouping is a reshape)
])
@pytest.mark.parametrize('crop', [False, True])
def test_gradcheck_features_and_coordinates(batch_index, crop):
    """The hand-written backward against finite differences, float64."""
    features = torch.randn(2, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    coords = torch.tensor([[0.7, 1.3, 4.6, 5.2], [-1.4, 2.2, 3.3, 7.9], [2.1, 0.4, 2.45, 0.8]],
                          dtype=torch.float64, requires_grad=True)
    index = torch.tensor(batch_index, dtype=torch.float64)[:, None]

    def pool(feat, xyxy):
        return prroi_pool2d(feat, torch.cat((index, xyxy), dim=1), 2, 3, 1.0, crop=crop)

    assert torch.autograd.gradcheck(pool, (features, coords), eps=1e-6, atol=1e-6)


def test_gradcheck_images_with_equal_roi_counts():
    """RoIs ordered by image with the same count per image (training proposals): the reshape grouping."""
    features = torch.randn(3, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    coords = (torch.rand(6, 2, dtype=torch.float64) * 4).repeat(1, 2) + torch.tensor([0, 0, 1.7, 2.3], dtype=torch.float64)
    coords.requires_grad_(True)
    index = torch.tensor([0, 0, 1, 1, 2, 2], dtype=torch.float64)[:, None]

    def pool(feat, xyxy):
        return prroi_pool2d(feat, torch.cat((index, xyxy), dim=1), 2, 2, 0.9)

    assert torch.autograd.gradcheck(pool, (features, coords), eps=1e-6, atol=1e-6)


def test_crop_to_roi_window_changes_nothing():
    """Pooling only the window the RoIs reach gives the full map's values and gradients."""
    features = torch.randn(2, 3, 36, 36, dtype=torch.float64)
    clustered = torch.tensor([[0, 100., 90., 160., 150.], [0, 104., 95., 170., 140.], [0, 96., 88., 150., 160.]])
    spread_out = torch.tensor([[1, -20., 5., 30., 40.], [0, 250., 260., 300., 299.], [1, 0., 0., 288., 288.]])
    outside = torch.tensor([[0, -90., -80., -30., -25.], [1, 400., 410., 420., 430.]])
    inverted = torch.tensor([[0, 160., 150., 100., 90.], [1, 100., 90., 130., 120.]])     # x2 < x1: pools to 0
    for rois in (clustered, spread_out, outside, inverted):
        outputs = []
        for crop in (False, True):
            feat = features.clone().requires_grad_(True)
            boxes = rois.double().requires_grad_(True)
            out = prroi_pool2d(feat, boxes, 5, 5, 1 / 8, crop=crop)
            (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
            outputs.append((out, feat.grad, boxes.grad))
        for full, cropped in zip(*outputs):
            torch.testing.assert_close(cropped, full, rtol=0, atol=1e-12)


def test_coordinate_gradient_moves_box_towards_bright_region():
    # The pooled mean grows when the box moves right, onto larger values: d/dx1 > 0 and d/dx2 > 0.
    features = torch.arange(20, dtype=torch.float64).repeat(20, 1)[None, None]
    rois = torch.tensor([[0, 4.2, 4.1, 9.7, 9.3]], dtype=torch.float64, requires_grad=True)
    prroi_pool2d(features, rois, 1, 1, 1.0).sum().backward()
    assert rois.grad[0, 1] > 0 and rois.grad[0, 3] > 0
    assert rois.grad[0, 0] == 0


def test_rejects_bad_inputs():
    features = torch.randn(1, 2, 5, 5)
    with pytest.raises(ValueError):
        prroi_pool2d(features, torch.zeros(3, 4), 2, 2, 1.0)
    with pytest.raises(IndexError):
        prroi_pool2d(features, torch.tensor([[1., 0, 0, 2, 2]]), 2, 2, 1.0)
    assert prroi_pool2d(features, torch.zeros(0, 5), 2, 2, 1.0).shape == (0, 2, 2, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    features = torch.randn(2, 4, 18, 18)
    rois = torch.tensor([[0, 10., 20., 200., 180.], [1, -30., 40., 100., 300.]])
    cpu = prroi_pool2d(features, rois, 3, 3, 1 / 16)
    gpu = prroi_pool2d(features.cuda(), rois.cuda(), 3, 3, 1 / 16)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_gradients_match_cpu():
    """The hand-written backward on the GPU (no crop there) against the CPU's (cropped)."""
    features = torch.randn(3, 4, 18, 18, dtype=torch.float64)
    rois = torch.tensor([[0, 10., 20., 100., 90.], [2, -30., 40., 100., 300.], [0, 50., 50., 60., 70.]],
                        dtype=torch.float64)
    grads = {}
    for device in ('cpu', 'cuda'):
        feat, boxes = features.to(device).requires_grad_(True), rois.to(device).requires_grad_(True)
        prroi_pool2d(feat, boxes, 3, 3, 1 / 8).pow(2).sum().backward()
        grads[device] = (feat.grad.cpu(), boxes.grad.cpu())
    for cpu, gpu in zip(grads['cpu'], grads['cuda']):
        torch.testing.assert_close(gpu, cpu, rtol=1e-9, atol=1e-9)


def test_closed_form_box_gradient_equals_autograd_and_finite_differences():
    """PooledBoxes (the refinement graph's pooling): output as prroi_pool2d's, and dL/d(x1, y1, x2, y2)
    for a random dL/dout equal to autograd through the hand-written backward and to central
    differences, in float64, boxes partly outside the map included."""
    torch.manual_seed(0)
    features = torch.randn(1, 6, 9, 11, dtype=torch.float64)
    rois = torch.tensor([[8.0, 6.0, 40.0, 30.0], [-6.0, 10.0, 20.0, 50.0], [30.0, 2.0, 31.5, 70.0]], dtype=torch.float64)
    grad_out = torch.randn(3, 6, 5, 5, dtype=torch.float64)
    pooled = PooledBoxes(features[0], rois, 5, 5, 1 / 8)
    with_index = torch.cat((torch.zeros(3, 1, dtype=torch.float64), rois), dim=1)
    reference = prroi_pool2d(features, with_index, 5, 5, 1 / 8)
    torch.testing.assert_close(pooled.out, reference, rtol=0, atol=1e-12)
    leaf = with_index.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((prroi_pool2d(features, leaf, 5, 5, 1 / 8) * grad_out).sum(), leaf)
    torch.testing.assert_close(pooled.box_gradient(grad_out), grad[:, 1:], rtol=0, atol=1e-10)
    eps = 1e-6
    numeric = torch.zeros_like(rois)
    for r in range(3):
        for c in range(4):
            plus, minus = rois.clone(), rois.clone()
            plus[r, c] += eps
            minus[r, c] -= eps
            difference = (PooledBoxes(features[0], plus, 5, 5, 1 / 8).out - PooledBoxes(features[0], minus, 5, 5, 1 / 8).out)
            numeric[r, c] = (difference[r] * grad_out[r]).sum() / (2 * eps)
    torch.testing.assert_close(pooled.box_gradient(grad_out), numeric, rtol=0, atol=1e-7)


def test_iou_net_box_gradient_in_closed_form_equals_autograd():
    """AtomIoUNet.predict_iou_and_box_gradient (eval mode, BatchNorm with non-trivial statistics)
    against autograd through predict_iou_modulated and against central differences, float64."""
    torch.manual_seed(0)
    net = AtomIoUNet().double().eval()
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    modulated = (torch.randn(1, 256, 18, 18, dtype=torch.float64), torch.randn(1, 256, 9, 9, dtype=torch.float64))
    boxes = torch.tensor([[40.0, 50.0, 60.0, 40.0], [30.0, 20.0, 80.0, 90.0], [100.0, 100.0, 30.0, 50.0]],
                         dtype=torch.float64)
    ious, grad = net.predict_iou_and_box_gradient(modulated, boxes)
    leaf = boxes.clone().requires_grad_(True)
    reference = net.predict_iou_modulated(modulated, leaf.view(1, -1, 4)).view(-1)
    (expected,) = torch.autograd.grad(reference.sum(), leaf)
    assert ious.shape == (3,) and grad.shape == (3, 4) and float(expected.abs().max()) > 1e-3
    torch.testing.assert_close(ious, reference.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-12)
    eps = 1e-6
    for r, c in ((0, 0), (1, 3), (2, 1)):
        plus, minus = boxes.clone(), boxes.clone()
        plus[r, c] += eps
        minus[r, c] -= eps
        numeric = (net.predict_iou_modulated(modulated, plus.view(1, -1, 4))[0, r]
                   - net.predict_iou_modulated(modulated, minus.view(1, -1, 4))[0, r]) / (2 * eps)
        assert float(grad[r, c].detach()) == pytest.approx(float(numeric.detach()), abs=1e-7)
    net.train()
    with pytest.raises(ValueError, match='eval mode'):
        net.predict_iou_and_box_gradient(modulated, boxes)
