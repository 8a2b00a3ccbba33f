"""Initialisation from DiMP, the optimiser's parameter groups, frozen layers, and the trainer's
AMP, gradient clipping and validation paths."""
import copy

import pytest
import torch
from torch import nn

from ltr.actors import BaseActor
from ltr.admin.loading import save_network
from ltr.admin.settings import Settings
from ltr.models.tracking.dimpnet import dimpnet18, dimpnet50
from ltr.train_settings.cmd.common import parameter_groups
from ltr.train_settings.cmd.config import TrainConfig
from ltr.trainers import LTRTrainer
from rgbt.nets import TRAINED_HEAD_KWARGS, cmd_student, cmd_teacher, init_from_dimp


# ---- initialisation from a pytracking DiMP checkpoint ----

def test_init_from_dimp18_copies_backbone_and_heads_into_the_student(tmp_path):
    torch.manual_seed(0)
    dimp = dimpnet18(backbone_pretrained=False, **TRAINED_HEAD_KWARGS)       # as dimp18.pth was trained
    path = save_network(dimp, tmp_path / 'dimp18.pth.tar')
    student = cmd_student(backbone_pretrained=False)
    fusion_before = copy.deepcopy(student.fusion.state_dict())
    init_from_dimp(student, str(path))
    after = student.state_dict()
    for key, value in dimp.state_dict().items():
        assert torch.equal(after[key], value), key
    assert all(torch.equal(after['fusion.' + k], v) for k, v in fusion_before.items())     # fusion kept


def test_image_level_fusion_student_from_dimp18_answers_equal_images_as_dimp18(tmp_path):
    """Table 4's MD student stacks RGB and TIR at the input; initialised from DiMP-18, an RGB-T pair of
    equal images gives DiMP-18's backbone features of that image (oracle: DiMP-18 itself), while a
    different thermal image changes them."""
    torch.manual_seed(0)
    dimp = dimpnet18(backbone_pretrained=False, **TRAINED_HEAD_KWARGS).eval()
    path = save_network(dimp, tmp_path / 'dimp18.pth.tar')
    student = cmd_student(fusion='image', backbone_pretrained=False)
    init_from_dimp(student, str(path))
    student.eval()
    assert 19.6 < sum(p.numel() for p in student.parameters()) / 1e6 < 19.8 and len(student.fusion) == 0
    image, other = torch.randn(2, 1, 3, 64, 64).unbind(0)
    with torch.no_grad():
        fused = student.extract_features(image, image)
        expected = dimp.feature_extractor(image, ['layer2', 'layer3'])
        changed = student.extract_features(image, other)
    for layer in ('layer2', 'layer3'):
        torch.testing.assert_close(fused[layer], expected[layer], rtol=1e-4, atol=1e-5)
    assert (changed['layer3'] - fused['layer3']).abs().mean() > 1e-2 * fused['layer3'].abs().mean()


def test_init_from_dimp50_gives_both_teacher_streams_the_same_backbone(tmp_path):
    torch.manual_seed(0)
    dimp = dimpnet50(backbone_pretrained=False, **TRAINED_HEAD_KWARGS)
    path = save_network(dimp, tmp_path / 'dimp50.pth.tar')
    teacher = cmd_teacher(backbone_pretrained=False)
    init_from_dimp(teacher, str(path))
    after = teacher.state_dict()
    backbone = {k: v for k, v in dimp.state_dict().items() if k.startswith('feature_extractor.')}
    assert len(backbone) > 300
    for key, value in backbone.items():
        assert torch.equal(after[key], value) and torch.equal(after['feature_extractor_tir.' + key[18:]], value), key
    for key in ('classifier.filter_optimizer.log_step_length', 'bb_regressor.iou_predictor.weight'):
        assert torch.equal(after[key], dimp.state_dict()[key])
    with pytest.raises(RuntimeError, match='does not fit'):
        init_from_dimp(cmd_student(backbone_pretrained=False), str(path))       # ResNet50 into ResNet18


# ---- optimiser groups ----

STUDENT_RATES = {  # parameter -> learning rate (pytracking's DiMP-18 setting; fusion and adapters at lr_base)
    'feature_extractor.conv1.weight': 2e-4,
    'feature_extractor.layer3.1.bn2.bias': 2e-4,
    'classifier.feature_extractor.0.conv1.weight': 5e-5,
    'classifier.filter_initializer.filter_conv.weight': 5e-5,
    'classifier.filter_optimizer.log_step_length': 5e-4,
    'bb_regressor.iou_predictor.weight': 1e-3,
    'fusion.layer2.fc.0.weight': 2e-4,
}
TEACHER_RATES = {
    'feature_extractor.conv1.weight': 2e-5,
    'feature_extractor_tir.layer2.0.conv1.weight': 2e-5,
    'classifier.filter_optimizer.log_step_length': 5e-4,
    'bb_regressor.iou_predictor.weight': 2e-4,
    'fusion.layer3.mdc.tir_to_rgb.weight': 2e-4,
}


def rates_by_name(net, role):
    by_id = {id(p): group['lr'] for group in parameter_groups(net, TrainConfig(), role) for p in group['params']}
    return {name: by_id.get(id(p)) for name, p in net.named_parameters()}


@pytest.mark.parametrize('role, build, expected', [('student', cmd_student, STUDENT_RATES),
                                                    ('teacher', cmd_teacher, TEACHER_RATES)])
def test_parameter_groups_give_each_module_its_learning_rate(role, build, expected):
    rates = rates_by_name(build(backbone_pretrained=False), role)
    assert None not in rates.values()                                      # every parameter is in a group
    for name, rate in expected.items():
        assert rates[name] == rate, name


def test_parameter_groups_of_the_distillation_net_see_through_the_student_prefix():
    from ltr.actors import CMDTrainingNet
    from rgbt.distill import CMDDistillLoss
    from rgbt.nets import DISTILL_LAYERS
    student = cmd_student(backbone_pretrained=False)
    channels = [student.feature_extractor.layer_channels[l] for l in DISTILL_LAYERS]
    net = CMDTrainingNet(student, CMDDistillLoss(channels, [4 * c for c in channels]))
    rates = rates_by_name(net, 'student')
    assert rates['student.bb_regressor.iou_predictor.weight'] == 1e-3
    assert rates['student.classifier.filter_optimizer.log_step_length'] == 5e-4
    adapters = [rate for name, rate in rates.items() if name.startswith('distill.')]
    assert adapters and set(adapters) == {TrainConfig().lr_base}
    # The config holds the rates: a changed group rate reaches the optimiser's group.
    config = TrainConfig().replace(lr_dimp18=(('bb_regressor', 3e-3),), lr_base=1e-5)
    groups = parameter_groups(net, config, 'student')
    assert [g['lr'] for g in groups] == [3e-3, 1e-5]
    assert sum(len(g['params']) for g in groups) == len(list(net.parameters()))


# ---- frozen layers ----

def test_frozen_backbone_layers_keep_weights_and_batchnorm_statistics_over_a_step():
    torch.manual_seed(0)
    net = dimpnet18(backbone_pretrained=False, frozen_backbone_layers=('conv1', 'layer1'))
    backbone = net.feature_extractor
    frozen = {k: v.clone() for k, v in backbone.state_dict().items() if k.startswith(('conv1', 'bn1', 'layer1'))}
    trained = {k: v.clone() for k, v in backbone.state_dict().items() if k.startswith('layer2')}
    optimiser = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    net.train()
    output = backbone(torch.randn(2, 3, 64, 64), ['layer2'])['layer2']
    output.square().mean().backward()
    optimiser.step()
    state = backbone.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())           # weights and running statistics
    assert not torch.equal(state['layer2.0.bn1.running_mean'], trained['layer2.0.bn1.running_mean'])
    assert not torch.equal(state['layer2.0.conv1.weight'], trained['layer2.0.conv1.weight'])
    assert not backbone.layer1.training and backbone.layer2.training


# ---- trainer paths: AMP, clipping, validation ----

class LinearActor(BaseActor):
    """loss = mean((w x - y)^2) over a batch {'train_rgb': x (1, N, D), 'y': (1, N)}."""

    def __init__(self, dim=3):
        super().__init__(nn.Linear(dim, 1, bias=False), objective=None)
        self.dtypes = []

    def __call__(self, data):
        prediction = self.net(data['train_rgb'])[..., 0]
        self.dtypes.append(prediction.dtype)
        loss = (prediction.float() - data['y']).square().mean()
        return loss, {'Loss/total': loss.item()}


class Batches(list):
    stack_dim = 1
    epoch_interval = 1

    def __init__(self, batches, name='train', training=True):
        super().__init__(batches)
        self.name, self.training = name, training


def linear_batch(seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 8, 3, generator=generator)
    return {'train_rgb': x, 'y': x @ torch.tensor([1.0, -2.0, 0.5])}


def linear_trainer(tmp_path, loaders, lr=1.0, **settings_values):
    settings = Settings('test', 'linear')
    settings.env.workspace_dir = str(tmp_path)
    settings.use_tensorboard = False
    for key, value in settings_values.items():
        setattr(settings, key, value)
    torch.manual_seed(0)
    actor = LinearActor()
    return LTRTrainer(actor, loaders, torch.optim.SGD(actor.net.parameters(), lr=lr), settings)


def update_norm(trainer, batch):
    before = trainer.actor.net.weight.detach().clone()
    trainer.step(batch, training=True)
    return float((trainer.actor.net.weight.detach() - before).norm())


def test_gradient_clipping_bounds_the_update(tmp_path):
    batch = linear_batch(0)
    free = linear_trainer(tmp_path / 'a', [])
    clipped = linear_trainer(tmp_path / 'b', [], grad_clip_max_norm=1e-3)
    assert update_norm(free, batch) > 0.1
    assert update_norm(clipped, batch) == pytest.approx(1e-3, rel=1e-4)      # SGD, lr 1: the clipped gradient


def test_clipping_acts_on_unscaled_gradients_with_a_grad_scaler(tmp_path):
    """With AMP's GradScaler the gradients are unscaled before clipping: the update is the clip norm,
    not the clip norm divided by the loss scale."""
    trainer = linear_trainer(tmp_path, [], grad_clip_max_norm=1e-3)
    trainer.scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 10)
    assert update_norm(trainer, linear_batch(0)) == pytest.approx(1e-3, rel=1e-4)


def test_cpu_amp_runs_the_forward_in_bfloat16_and_still_learns(tmp_path):
    trainer = linear_trainer(tmp_path, [], lr=0.05, use_amp=True)
    losses = [trainer.step(linear_batch(0), training=True)['Loss/total'] for _ in range(2)]
    assert trainer.actor.dtypes == [torch.bfloat16] * 2 and trainer.scaler is None       # scaler only on CUDA
    assert trainer.actor.net.weight.dtype == torch.float32 and losses[1] < losses[0]


def test_validation_loader_scores_without_changing_the_network(tmp_path):
    validation = Batches([linear_batch(7)], name='val', training=False)
    validation.epoch_interval = 2
    trainer = linear_trainer(tmp_path, [Batches([linear_batch(0)]), validation], lr=0.05)
    weights = []
    original_cycle = trainer.cycle_dataset

    def cycle(loader):
        before = trainer.actor.net.weight.detach().clone()
        original_cycle(loader)
        weights.append((loader.name, torch.equal(before, trainer.actor.net.weight), torch.is_grad_enabled()))
    trainer.cycle_dataset = cycle
    trainer.train(4, load_latest=False, fail_safe=False)
    assert len(trainer.stats['train']['Loss/total']) == 4 and len(trainer.stats['val']['Loss/total']) == 2
    assert [w for w in weights if w[0] == 'val'] == [('val', True, True)] * 2            # unchanged; grad back on
    assert all(not unchanged for name, unchanged, _ in weights if name == 'train')
