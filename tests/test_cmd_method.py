"""The CMD networks, distillation losses, actors and trainer (small crops, random weights)."""
import copy

import pytest
import torch

from ltr.actors import CMDDistillActor, CMDTrainingNet, RGBTDiMPActor
from ltr.data.random_batch import random_training_batch
from ltr.models.backbone.resnet import LAYER_CHANNELS
from rgbt.distill import ABF, CMDDistillLoss, ReviewChain, cem, sem
from rgbt.fusion import MPSD, create_fusion
from rgbt.nets import DISTILL_LAYERS, cmd_student, cmd_student_origin, cmd_teacher

CROP = 64          # 4x4 classification features, 5x5 score maps: fast on CPU


def count(net):
    return sum(p.numel() for p in net.parameters())


def calibrate_batchnorm(net):
    """Gives a random net the BatchNorm statistics a trained one has (eval-mode BN with the initial
    running statistics lets deep ResNet50 activations grow without bound)."""
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
            module.reset_running_stats()
    net.train()
    with torch.no_grad():
        for seed in (10, 11, 12):
            batch = make_batch(seed=seed)
            net(*[batch[k] for k in ('train_rgb', 'train_tir', 'test_rgb', 'test_tir', 'train_anno', 'test_proposals')])
    return net.eval()


@pytest.fixture(scope='module')
def teacher():
    torch.manual_seed(0)
    return calibrate_batchnorm(cmd_teacher(backbone_pretrained=False))


@pytest.fixture(scope='module')
def student():
    torch.manual_seed(1)
    return cmd_student(backbone_pretrained=False)


def make_batch(frames=2, sequences=2, crop=CROP, seed=0):
    return random_training_batch(frames, sequences, crop, proposals=4, seed=seed)


def test_parameter_counts(teacher, student):
    assert count(student) == pytest.approx(19.9e6, rel=0.01)
    assert count(cmd_student_origin(backbone_pretrained=False)) == pytest.approx(19.8e6, rel=0.01)
    assert count(teacher) == pytest.approx(81.01e6, rel=0.05)
    assert student.feature_extractor_tir is None and teacher.feature_extractor_tir is not None


@pytest.mark.parametrize('fusion', ['mpsd', 'concat', 'saf', 'caf', 'tf'])
def test_fusion_modules_keep_shape(fusion):
    module = create_fusion(fusion, 16)
    rgb, tir = torch.randn(3, 16, 5, 7), torch.randn(3, 16, 5, 7)
    assert module(rgb, tir).shape == (3, 16, 5, 7)


def test_mpsd_paths_and_weights():
    module = MPSD(8)
    rgb, tir = torch.randn(4, 8, 6, 6), torch.randn(4, 8, 6, 6)
    fused, paths, weights = module.forward_with_paths(rgb, tir)
    assert weights.shape == (4, 3)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))
    torch.testing.assert_close(paths[1], rgb * tir)              # Eq. 4: commonality
    torch.testing.assert_close(paths[2], rgb - tir)              # Eq. 4: difference
    expected = sum(weights[:, n].view(-1, 1, 1, 1) * paths[n] for n in range(3))
    torch.testing.assert_close(fused, expected)                  # Eq. 6


def test_sem_and_cem_equations():
    a = torch.tensor([[1.0, 2.0], [-1.0, 0.5]])
    b = torch.tensor([[3.0, -1.0], [2.0, 4.0]])
    fe_rgb, fe_tir = sem(a, b)
    torch.testing.assert_close(fe_rgb, torch.tensor([[3.0 - 2.0, -2.0 + 3.0], [-2.0 - 3.0, 2.0 - 3.5]]))
    torch.testing.assert_close(fe_tir, torch.tensor([[3.0 + 2.0, -2.0 - 3.0], [-2.0 + 3.0, 2.0 + 3.5]]))
    torch.testing.assert_close(cem(a, b), torch.tensor([[3.0 + 4.0, -2.0 + 1.0], [-2.0 + 1.0, 2.0 + 4.5]]))


def test_review_chain_maps_student_levels_to_teacher_channels():
    student_channels = [LAYER_CHANNELS['resnet18'][l] for l in DISTILL_LAYERS]
    teacher_channels = [LAYER_CHANNELS['resnet50'][l] for l in DISTILL_LAYERS]
    chain = ReviewChain(student_channels, teacher_channels, mid_channels=16)
    sizes = [32, 16, 8, 4]
    outputs = chain([torch.randn(2, c, s, s) for c, s in zip(student_channels, sizes)])
    assert [tuple(o.shape) for o in outputs] == [(2, c, s, s) for c, s in zip(teacher_channels, sizes)]
    assert chain.abfs[-1].att_conv is None and chain.abfs[0].att_conv is not None
    out, residual = ABF(4, 6, 10, fuse=True)(torch.randn(1, 4, 8, 8), torch.randn(1, 6, 4, 4))
    assert out.shape == (1, 10, 8, 8) and residual.shape == (1, 6, 8, 8)


def test_hfrd_matches_equations_12_13():
    loss = CMDDistillLoss([1] * 4, [1] * 4, use_scfd=False, use_mpsd=False)
    teacher = torch.tensor([[0.2, 0.9], [0.1, -0.3]])
    label = torch.tensor([[0.5, 0.3], [0.0, 0.1]])
    student = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    corrected = torch.tensor([[0.7, 0.3], [0.1, -0.2]])             # R_t + R_g where < 1, else R_g
    expected = ((student * corrected - label) ** 2).mean()
    torch.testing.assert_close(loss.hfrd(student, teacher, label), expected)


@pytest.mark.parametrize('reduction, per_sample_loss', [('sum', 0.5 * 36 * 0.25), ('channel_sum', 0.5 * 4 * 0.25),
                                                        ('mean', 0.25)])     # for elements that differ by 0.5
def test_path_penalty_is_zero_when_the_student_picks_the_teachers_path(reduction, per_sample_loss):
    loss = CMDDistillLoss([4, 4, 4, 4], [4, 4, 4, 4], use_scfd=False, use_hfrd=False, reduction=reduction)
    for adapter in loss.fused_adapters.values():          # identity adapters for a hand-made case
        adapter.weight.data = torch.eye(4).view(4, 4, 1, 1)
        adapter.bias.data.zero_()
    target = torch.ones(2, 4, 3, 3)
    paths = [target.clone(), torch.zeros_like(target), -target]
    fused = {layer: target for layer in ('layer2', 'layer3')}
    agree = {'paths': {l: (paths, torch.tensor([[0.8, 0.1, 0.1]] * 2)) for l in fused}, 'fused': fused}
    # Path 0 equals the teacher (L = 0), so the penalty vanishes whatever the weights.
    assert loss.fusion_and_path_terms(agree, {'fused': fused})[1].item() == 0.0
    # Shifted by 0.25, the paths are 0.25, 0.75 and 1.75 from the teacher: path 0 is the closest by a
    # margin, and the student prefers path 1.
    shifted = [p + 0.25 for p in paths]
    disagree = {'paths': {l: (shifted, torch.tensor([[0.2, 0.7, 0.1]] * 2)) for l in fused}, 'fused': fused}
    expected = 2 * (per_sample_loss / 4) * (0.7 - 0.2)       # two levels; 4 x 9 elements of 0.25^2 per sample
    assert loss.fusion_and_path_terms(disagree, {'fused': fused})[1].item() == pytest.approx(expected, rel=1e-6)


def test_dimp_actor_iteration(student):
    net = copy.deepcopy(student)
    loss, stats = RGBTDiMPActor(net)(make_batch())
    loss.backward()
    for key in ('Loss/total', 'Loss/iou', 'Loss/target_clf', 'Loss/test_init_clf', 'Loss/test_iter_clf'):
        assert torch.isfinite(torch.tensor(stats[key])), key
    assert net.fusion['layer3'].fc[0].weight.grad is not None


def distill_actor(teacher, student, **kwargs):
    distill = CMDDistillLoss([LAYER_CHANNELS['resnet18'][l] for l in DISTILL_LAYERS],
                             [LAYER_CHANNELS['resnet50'][l] for l in DISTILL_LAYERS], mid_channels=32, **kwargs)
    return CMDDistillActor(CMDTrainingNet(copy.deepcopy(student), distill), teacher)


def test_distill_actor_iteration_keeps_teacher_frozen(teacher, student):
    actor = distill_actor(teacher, student)
    actor.train(True)
    assert not teacher.training
    bn = teacher.feature_extractor.bn1
    running_mean, batches = bn.running_mean.clone(), bn.num_batches_tracked.clone()
    loss, stats = actor(make_batch())
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert torch.equal(bn.running_mean, running_mean) and torch.equal(bn.num_batches_tracked, batches)
    for key in ('Loss/scfd', 'Loss/mpsd_fus', 'Loss/mpsd_p', 'Loss/hfrd', 'Loss/original', 'Loss/distill'):
        assert key in stats and torch.isfinite(torch.tensor(stats[key])), key
    assert actor.net.distill.review_rgb.abfs[0].conv1[0].weight.grad is not None
    state = actor.checkpoint_state()
    assert not any(k.startswith('distill.') for k in state['net']) and 'adapters' in state


def test_distillation_loss_falls_on_a_fixed_batch(teacher, student):
    torch.manual_seed(0)
    actor = distill_actor(teacher, student)
    actor.train(True)
    optimizer = torch.optim.Adam(actor.net.parameters(), lr=1e-3)
    batch = make_batch(seed=3)
    history = []
    for _ in range(30):
        loss, stats = actor(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(stats)
    mean = lambda key, part: sum(h[key] for h in part) / len(part)  # noqa: E731
    # A random ResNet50 teacher's features are large (SCFD ~ 9e4 under the default channel_sum), so
    # the ABF chains fit them slowly; the fused-feature and response terms fall fast.
    assert mean('Loss/distill', history[-5:]) < 0.95 * mean('Loss/distill', history[:5])
    assert history[-1]['Loss/scfd'] < 0.95 * history[0]['Loss/scfd']
    assert history[-1]['Loss/mpsd_fus'] < 0.8 * history[0]['Loss/mpsd_fus']
    assert history[-1]['Loss/hfrd'] < 0.6 * history[0]['Loss/hfrd']


def test_feature_loss_reductions_against_a_brute_force_loop():
    """'sum' = 1/2 ||u - r(v)||^2 per sample (FitNets), 'channel_sum' = 1/2 sum over channels and mean
    over positions (the default), 'mean' = per element; each averaged over the batch."""
    from rgbt.distill import feature_mse
    torch.manual_seed(0)
    a, b = torch.randn(3, 4, 2, 5, dtype=torch.float64), torch.randn(3, 4, 2, 5, dtype=torch.float64)
    sums = []
    for n in range(3):
        total = 0.0
        for c in range(4):
            for y in range(2):
                for x in range(5):
                    total += (a[n, c, y, x].item() - b[n, c, y, x].item()) ** 2
        sums.append(total)
    assert feature_mse(a, b, 'sum').item() == pytest.approx(sum(0.5 * t for t in sums) / 3, rel=1e-12)
    assert feature_mse(a, b, 'channel_sum').item() == pytest.approx(sum(0.5 * t / 10 for t in sums) / 3, rel=1e-12)
    assert feature_mse(a, b).item() == feature_mse(a, b, 'channel_sum').item()
    assert feature_mse(a, b, 'mean').item() == pytest.approx(sum(t / 40 for t in sums) / 3, rel=1e-12)
    for reduction in ('sum', 'channel_sum', 'mean'):
        x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda u, v: feature_mse(u, v, reduction), (x, y))
    with pytest.raises(ValueError, match='reduction'):
        CMDDistillLoss([1] * 4, [1] * 4, reduction='median')


def test_fused_adapter_is_one_function_for_the_fused_map_and_every_path():
    """In training mode each path and the fused map go through the same affine map: adapting them
    together or one sample at a time gives the same values (no batch statistics)."""
    torch.manual_seed(0)
    loss = CMDDistillLoss([8, 8, 8, 8], [16, 16, 16, 16], use_scfd=False, use_hfrd=False).train()
    conv = loss.fused_adapters['layer2']
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loss.modules())
    maps = [torch.randn(2, 8, 3, 3) * scale + shift for scale, shift in ((1, 0), (5, 3), (0.1, -2), (2, 1))]
    together = loss.adapt('layer2', maps)
    for single, batch_map in zip(together, maps):
        for n in range(2):
            alone = torch.nn.functional.conv2d(batch_map[n:n + 1], conv.weight, conv.bias)
            torch.testing.assert_close(single[n:n + 1], alone)


def test_ddp_schedule_keeps_the_single_process_global_batch_and_steps():
    from ltr.train_settings.cmd.common import per_process_schedule
    assert per_process_schedule(26, 26000, 1) == (26, 1000)
    assert per_process_schedule(26, 26000, 2) == (13, 1000)          # global 26, same 1000 steps
    assert per_process_schedule(10, 26000, 4) == (2, 2600)           # rounded down: global 8
    assert per_process_schedule(26, 26000, 2, scale_batch_with_processes=True) == (26, 500)
    with pytest.raises(ValueError, match='cannot be split'):
        per_process_schedule(2, 8, 4)


def test_table2_targets_by_hand():
    from rgbt.distill import distillation_targets
    rgb, tir = torch.tensor([2.0, -1.0]), torch.tensor([3.0, 0.5])
    product = torch.tensor([6.0, -0.5])
    cases = {('afd', 2): (rgb + tir, rgb + tir), ('sed', 4): (product + rgb - tir, product + tir - rgb),
             ('ced', 1): (product + rgb + tir,) * 2, ('scfd', 3): (product + rgb - tir, product + tir - rgb),
             ('scfd', 4): (product + rgb + tir,) * 2, ('reviewkd', 2): (rgb, tir)}
    for (kind, level), expected in cases.items():
        for got, want in zip(distillation_targets(kind, level, rgb, tir), expected):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize('targets', ['afd', 'sed', 'ced', 'reviewkd'])
def test_table2_settings_take_a_training_step(teacher, student, targets):
    actor = distill_actor(teacher, cmd_student_origin(backbone_pretrained=False), use_mpsd=False, use_hfrd=False,
                          scfd_targets=targets)
    actor.train(True)
    loss, stats = actor(make_batch())
    loss.backward()
    assert set(k for k in stats if k in ('Loss/scfd', 'Loss/mpsd_fus', 'Loss/hfrd')) == {'Loss/scfd'}
    assert torch.isfinite(loss) and actor.net.distill.review_tir.abfs[0].conv1[0].weight.grad.abs().sum() > 0


def test_table4_two_stream_student_kd_and_fitnets_terms(teacher):
    from rgbt.nets import cmd_student_two_stream
    torch.manual_seed(0)
    two_stream = cmd_student_two_stream(backbone_pretrained=False)
    assert two_stream.two_stream and count(two_stream) == pytest.approx(31.6e6, rel=0.01)
    kd = CMDDistillLoss([1] * 4, [1] * 4, use_scfd=False, use_mpsd=False, use_hfrd=False, use_kd=True, beta=2.0)
    student_scores, teacher_scores = [torch.zeros(2, 3)], [torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])]
    total, terms = kd({}, {}, student_scores, teacher_scores, None)
    assert terms['kd'].item() == pytest.approx(14 / 6) and total.item() == pytest.approx(2.0 * 14 / 6)
    for settings in (dict(use_kd=True, use_scfd=False, use_mpsd=False, use_hfrd=False),
                     dict(use_scfd=False, use_mpsd=True, use_hfrd=False, fusion_layers=('layer3',)),
                     dict(use_scfd=True, use_mpsd=False, use_hfrd=False, scfd_targets='reviewkd')):
        actor = distill_actor(teacher, two_stream, **settings)
        actor.train(True)
        loss, stats = actor(make_batch())
        loss.backward()
        assert torch.isfinite(loss), settings
    fitnets = actor = distill_actor(teacher, two_stream, use_scfd=False, use_hfrd=False, fusion_layers=('layer3',))
    assert fitnets.net.distill.fusion_layers == ('layer3',)


def test_equation_14_assembles_the_terms_with_alpha_and_beta(teacher, student):
    actor = distill_actor(teacher, student, alpha=0.01, beta=7.0)
    actor.train(True)
    loss, stats = actor(make_batch(seed=4))
    expected = stats['Loss/original'] + 0.01 * (stats['Loss/scfd'] + stats['Loss/mpsd_fus'] + stats['Loss/mpsd_p']) \
        + 7.0 * stats['Loss/hfrd']
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert stats['Loss/original'] == pytest.approx(stats['Loss/iou'] + stats['Loss/target_clf'] + stats['Loss/test_init_clf']
                                                   + stats['Loss/test_iter_clf'], rel=1e-5)
