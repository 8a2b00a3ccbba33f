"""The typed training configuration: profiles, command-line overrides, unknown keys, what is stored."""
import dataclasses

import pytest
import torch

from ltr import run_training
from ltr.admin.settings import Settings
from ltr.train_settings.cmd import common
from ltr.train_settings.cmd import student as student_setting
from ltr.train_settings.cmd.config import PROFILES, TrainConfig, parse_assignments, profile_config
from rgbt.distill import PAPER_ALPHA, normalise_target


def config_of(argv, monkeypatch, profile=None):
    if profile is None:
        monkeypatch.delenv('CMD_PROFILE', raising=False)
    else:
        monkeypatch.setenv('CMD_PROFILE', profile)
    return run_training.build_config(run_training.parse_args(['cmd', 'student_distill', *argv]))


def test_profiles_are_frozen_instances_and_cli_overrides_apply(monkeypatch):
    assert config_of([], monkeypatch) == PROFILES['dimp_lasher']
    smoke = config_of([], monkeypatch, profile='smoke')
    assert smoke == PROFILES['smoke'] and smoke.output_sz == 128 and smoke.data == 'synthetic'
    assert config_of(['--profile', 'dimp_lasher'], monkeypatch, profile='smoke').output_sz == 288    # CLI wins
    config = config_of(['--epochs', '3', '--no-backbone-pretrained', '--amp', '--teacher', 't.pth.tar',
                        '--modality-dropout', '0.3', '--set', 'distill_beta=10', '--set', 'grad_clip=none',
                        '--set', 'abf_shared=true'], monkeypatch, profile='smoke')
    assert (config.epochs, config.backbone_pretrained, config.amp, config.teacher) == (3, False, True, 't.pth.tar')
    assert (config.modality_dropout, config.distill_beta, config.grad_clip, config.abf_shared) == (0.3, 10.0, None, True)
    assert config.distill_alpha == PAPER_ALPHA and config.output_sz == 128          # untouched fields keep the profile's
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 5


def test_unknown_or_ill_typed_settings_are_rejected_with_the_nearest_name(monkeypatch):
    with pytest.raises(KeyError, match="unknown training setting 'distill_alhpa'; did you mean distill_alpha"):
        PROFILES['smoke'].replace(distill_alhpa=1.0)
    with pytest.raises(KeyError, match='distil_beta'):
        parse_assignments(['distil_beta=3'])
    with pytest.raises(ValueError, match="epochs must be int, got 'many'"):
        parse_assignments(['epochs=many'])
    with pytest.raises(ValueError, match="scfd_target_norm must be one of"):
        PROFILES['smoke'].replace(scfd_target_norm='l2')
    with pytest.raises(ValueError, match='modality_dropout is a probability'):
        TrainConfig(modality_dropout=1.5)
    with pytest.raises(SystemExit, match="unknown training setting 'nope'"):
        run_training.main(['cmd', 'student', '--set', 'nope=1'])
    with pytest.raises(ValueError, match="unknown training profile 'fast'"):
        profile_config('fast')


def test_role_values_and_learning_rate_recipe_are_derived_in_one_place():
    lasher = PROFILES['dimp_lasher']
    assert (lasher.batch_size_for('student'), lasher.batch_size_for('teacher')) == (26, 10)
    assert lasher.replace(batch_size=4).batch_size_for('teacher') == 4
    assert lasher.replace(iterations=5).samples_per_epoch_for('teacher') == 50
    assert lasher.lr_role('teacher') == 'teacher'                                   # ImageNet weights: DiMP-50's rates
    assert lasher.replace(backbone_pretrained=False).lr_role('teacher') == 'student'   # from scratch: DiMP-18's
    assert lasher.replace(backbone_pretrained=False, lr_recipe='dimp50').lr_role('teacher') == 'teacher'
    settings = Settings('cmd', 'student')
    settings.config = lasher.replace(amp=True, grad_clip=2.0, keep_checkpoints=3)
    common.configure(settings, 'teacher')
    assert (settings.batch_size, settings.samples_per_epoch, settings.use_amp, settings.grad_clip_max_norm,
            settings.keep_checkpoints) == (10, 26000, True, 2.0, 3)
    stored = settings.to_dict()['config']
    assert stored == settings.config.to_dict() and TrainConfig(**stored) == settings.config     # round trip
    with pytest.raises(TypeError, match='settings.config must be a TrainConfig'):
        common.configure(Settings('cmd', 'student'), 'student')


def test_describe_marks_the_fields_that_differ_from_the_profile():
    text = PROFILES['smoke'].replace(epochs=7).describe()
    assert '  * epochs = 7' in text and '    output_sz = 128' in text
    assert sum(line.startswith('  *') for line in text.splitlines()) == 1


def test_scfd_target_normalisation_gives_unit_per_channel_std_with_a_detached_scale():
    torch.manual_seed(0)
    scales = torch.tensor([0.1, 1.0, 30.0], dtype=torch.float64)
    target = (torch.randn(4, 3, 5, 6, dtype=torch.float64) * scales[None, :, None, None]).requires_grad_()
    normalised = normalise_target(target, 'channel_std')
    per_channel = target.detach().permute(1, 0, 2, 3).reshape(3, -1)
    expected = target.detach() / (per_channel.std(dim=1)[None, :, None, None] + 1e-6)   # brute force
    torch.testing.assert_close(normalised.detach(), expected)
    assert torch.allclose(normalised.detach().permute(1, 0, 2, 3).reshape(3, -1).std(dim=1),
                          torch.ones(3, dtype=torch.float64), atol=1e-4)
    normalised.sum().backward()                 # the scale is a constant: d/dx (x / s) = 1 / s
    torch.testing.assert_close(target.grad, (1 / (per_channel.std(dim=1) + 1e-6))[None, :, None, None].expand_as(target))
    assert normalise_target(target, 'none') is target


def test_every_field_reaches_what_it_configures(monkeypatch, tmp_path):
    """A field set on the command line arrives in the objects training builds (here the loss's
    hinge threshold, the sampler's gap, the processing's jitter and the optimiser's rates)."""
    monkeypatch.setenv('RGBT_WORKSPACE', str(tmp_path))
    monkeypatch.setenv('SYNTHETIC_PATH', str(tmp_path / 'syn'))
    captured = {}

    class CapturedTrainer:
        def __init__(self, actor, loaders, optimizer, settings, scheduler):
            captured.update(actor=actor, loader=loaders[0], optimizer=optimizer, settings=settings)

        def train(self, *args, **kwargs):
            return {}

    monkeypatch.setattr(student_setting, 'LTRTrainer', CapturedTrainer)
    run_training.main(['cmd', 'student', '--profile', 'smoke', '--no-backbone-pretrained', '--device', 'cpu',
                       '--set', 'hinge_threshold=0.2', '--set', 'max_gap=7', '--set', 'center_jitter_test=1.5',
                       '--set', 'lr_base=1e-5', '--set', 'lr_dimp18=[["bb_regressor", 0.003]]'])
    assert captured['actor'].objective['test_clf'].threshold == 0.2
    loader = captured['loader']
    assert loader.dataset.max_gap == 7 and loader.dataset.processing.center_jitter_factor['test'] == 1.5
    assert [group['lr'] for group in captured['optimizer'].param_groups] == [0.003, 1e-5]
