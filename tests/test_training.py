"""Trainer checkpoints and resume, and `run_training.py` end to end on the smoke profile."""
import copy

import pytest
import torch

from ltr import run_training
from ltr.admin.loading import load_network
from ltr.admin.settings import Settings
from ltr.trainers import LTRTrainer
from test_cmd_method import distill_actor, make_batch, calibrate_batchnorm
from rgbt.nets import cmd_student, cmd_teacher


class FixedLoader(list):
    """A loader that yields the same batches every epoch."""
    name, training, epoch_interval, stack_dim = 'train', True, 1, 1


def make_trainer(actor, workspace):
    settings = Settings('cmd', 'resume_test')
    settings.env.workspace_dir = str(workspace)
    settings.use_tensorboard = False
    optimizer = torch.optim.Adam(actor.net.parameters(), lr=1e-3)
    loader = FixedLoader([make_batch(seed=5)])
    return LTRTrainer(actor, [loader], optimizer, settings, torch.optim.lr_scheduler.StepLR(optimizer, 15, 0.2))


@pytest.fixture(scope='module')
def small_teacher():
    torch.manual_seed(0)
    return calibrate_batchnorm(cmd_teacher(backbone_pretrained=False))


def test_resume_reproduces_the_next_iterations_loss(tmp_path, small_teacher):
    torch.manual_seed(2)
    student = cmd_student(backbone_pretrained=False)
    trainer = make_trainer(distill_actor(small_teacher, student), tmp_path)
    trainer.train(2, load_latest=False, fail_safe=False)
    assert [p.name for p in trainer.checkpoint_files()] == ['RGBTDiMPnet_ep0001.pth.tar', 'RGBTDiMPnet_ep0002.pth.tar']
    batch = make_batch(seed=9)
    expected = [trainer.step(copy.deepcopy(batch), training=True)['Loss/total'] for _ in range(2)]

    torch.manual_seed(3)                                        # a differently initialised student
    fresh = make_trainer(distill_actor(small_teacher, cmd_student(backbone_pretrained=False)), tmp_path)
    assert fresh.load_checkpoint()
    assert fresh.epoch == 2 and fresh.optimizer.param_groups[0]['lr'] == trainer.optimizer.param_groups[0]['lr']
    fresh.actor.train(True)
    resumed = [fresh.step(copy.deepcopy(batch), training=True)['Loss/total'] for _ in range(2)]
    assert resumed == pytest.approx(expected, rel=1e-5)

    # The training checkpoint is also a tracking network file: the student alone.
    net, checkpoint = load_network(tmp_path / 'checkpoints' / 'ltr' / 'cmd' / 'resume_test')
    assert checkpoint['epoch'] == 2 and type(net).__name__ == 'RGBTDiMPnet' and not net.two_stream


def test_fail_safe_restarts_from_the_latest_checkpoint(tmp_path, small_teacher):
    torch.manual_seed(4)
    trainer = make_trainer(distill_actor(small_teacher, cmd_student(backbone_pretrained=False)), tmp_path)
    trainer.train(1, load_latest=False, fail_safe=False)
    original_epoch, failures = trainer.train_epoch, []

    def flaky_epoch():
        if not failures:
            failures.append(trainer.epoch)
            raise RuntimeError('simulated crash')
        original_epoch()

    trainer.train_epoch = flaky_epoch
    trainer.train(3, fail_safe=True)
    assert failures == [2] and trainer.epoch == 3
    assert len(trainer.checkpoint_files()) == 3
    trainer.settings.keep_checkpoints = 1
    trainer.train(4, fail_safe=False)
    assert [p.name for p in trainer.checkpoint_files()] == ['RGBTDiMPnet_ep0004.pth.tar']


def test_run_training_smoke_profile_teacher_then_distilled_student(tmp_path, monkeypatch):
    monkeypatch.setenv('RGBT_WORKSPACE', str(tmp_path))
    monkeypatch.setenv('CMD_PROFILE', 'smoke')
    args = ['--epochs', '1', '--no-backbone-pretrained', '--device', 'cpu', '--no-tensorboard']
    with pytest.raises(FileNotFoundError, match='ltr/run_training.py cmd teacher'):
        run_training.main(['cmd', 'student_distill'] + args)
    run_training.main(['cmd', 'teacher'] + args)
    run_training.main(['cmd', 'student_distill'] + args)
    checkpoint = torch.load(tmp_path / 'checkpoints' / 'ltr' / 'cmd' / 'student_distill' / 'RGBTDiMPnet_ep0001.pth.tar',
                            weights_only=True)
    stats = checkpoint['stats']['train']
    for key in ('Loss/total', 'Loss/scfd', 'Loss/mpsd_fus', 'Loss/mpsd_p', 'Loss/hfrd', 'Loss/original'):
        assert len(stats[key]) == 1 and stats[key][0] == stats[key][0], key      # logged and not NaN
    assert checkpoint['settings']['profile'] == 'smoke' and checkpoint['constructor']['fun_name'] == 'cmd_student'
