"""Trainer checkpoints and resume, and `run_training.py` end to end on the smoke profile."""
import copy
from pathlib import Path

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
            raise RuntimeError('DataLoader worker (pid 4242) exited unexpectedly')
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
    config = checkpoint['settings']['config']
    assert config['profile'] == 'smoke' and config['epochs'] == 1 and config['backbone_pretrained'] is False
    assert checkpoint['constructor']['fun_name'] == 'cmd_student'
    from pytracking.features.net_wrappers import NetworkFile       # the tracker samples at the training crop size
    network = NetworkFile('x', path=str(tmp_path / 'checkpoints' / 'ltr' / 'cmd' / 'student_distill'))
    assert network.training_crop_size() == 128


def test_deterministic_errors_stop_at_once_and_corrupt_checkpoints_fall_back(tmp_path, small_teacher, caplog):
    import logging
    from ltr.admin.loading import CheckpointError
    torch.manual_seed(4)
    trainer = make_trainer(distill_actor(small_teacher, cmd_student(backbone_pretrained=False)), tmp_path)
    trainer.train(2, load_latest=False, fail_safe=False)
    calls = []

    def broken_epoch():
        calls.append(trainer.epoch)
        raise ValueError('shape mismatch')

    trainer.train_epoch = broken_epoch
    with pytest.raises(ValueError, match='shape mismatch'):
        trainer.train(3, fail_safe=True)
    assert calls == [3]                                  # no retries of an error that would repeat

    latest = trainer.checkpoint_files()[-1]
    latest.write_bytes(latest.read_bytes()[:1000])     # e.g. a full disk while copying
    stale = latest.parent / (latest.name + '.k3j2x.tmp')
    stale.write_bytes(b'half a save')
    fresh = make_trainer(distill_actor(small_teacher, cmd_student(backbone_pretrained=False)), tmp_path)
    with caplog.at_level(logging.WARNING, logger='ltr.trainers.ltr_trainer'):
        fresh.train(2, fail_safe=False)                 # resumes from epoch 1 and trains epoch 2 again
    assert fresh.epoch == 2 and not stale.exists()
    damaged = latest.with_name(latest.name + '.damaged')
    assert damaged.stat().st_size == 1000                # kept for inspection, not overwritten
    text = caplog.text
    assert f'cannot resume from {latest}' in text and 'falling back to RGBTDiMPnet_ep0001.pth.tar' in text
    for path in trainer.checkpoint_files():
        path.write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='none of the checkpoints'):
        make_trainer(distill_actor(small_teacher, cmd_student(backbone_pretrained=False)), tmp_path).load_checkpoint()


def test_student_checkpoint_passed_as_teacher_is_refused(tmp_path, monkeypatch):
    from ltr.admin.loading import WrongNetworkError, save_network
    monkeypatch.setenv('RGBT_WORKSPACE', str(tmp_path))
    monkeypatch.setenv('CMD_PROFILE', 'smoke')
    student = save_network(cmd_student(backbone_pretrained=False), tmp_path / 'student.pth.tar')
    with pytest.raises(WrongNetworkError, match='holds a cmd_student network, not a teacher'):
        run_training.main(['cmd', 'student_distill', '--epochs', '1', '--no-backbone-pretrained', '--device', 'cpu',
                           '--no-tensorboard', '--teacher', str(student)])


def _ddp_rank_counts(rank, world_size, init_file, synthetic_dir, out_dir):
    """One DDP process: builds the training loader and reports its batch sizes and the global sample
    count of every step (all-reduced over the gloo group)."""
    import json
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world_size)
    from ltr.train_settings.cmd.common import configure, train_loader
    from ltr.train_settings.cmd.config import PROFILES
    settings = Settings('cmd', 'ddp_test')
    settings.rank, settings.world_size = rank, world_size
    settings.config = PROFILES['smoke'].replace(batch_size=4, iterations=3, num_workers=0)   # global batch 4, 3 steps
    configure(settings, 'student')
    settings.env.synthetic_dir = synthetic_dir
    counts, first_batch = [], None
    for batch in train_loader(settings):
        local = torch.tensor(batch['train_rgb'].shape[1])
        torch.distributed.all_reduce(local)
        counts.append((batch['train_rgb'].shape[1], int(local)))
        first_batch = batch['train_anno'].sum().item() if first_batch is None else first_batch
    weights = _ddp_train_linear(rank, world_size, Path(out_dir) / f'workspace{rank}')
    torch.distributed.destroy_process_group()
    (Path(out_dir) / f'rank{rank}.json').write_text(json.dumps(
        {'counts': counts, 'first_batch': first_batch, 'weights': weights}))


def _ddp_train_linear(rank, world_size, workspace):
    """Two epochs of a linear actor under DDP, each rank on its own data, each with its own
    workspace (so that a checkpoint written by rank 1 would show). Returns the final weights."""
    from test_optimisation import Batches, LinearActor, linear_batch
    settings = Settings('test', 'ddp_linear')
    settings.env.workspace_dir = str(workspace)
    settings.use_tensorboard = False
    settings.rank, settings.world_size = rank, world_size
    torch.manual_seed(0)                                    # the same initial weights on every rank
    actor = LinearActor()
    trainer = LTRTrainer(actor, [Batches([linear_batch(10 + rank)])],
                         torch.optim.SGD(actor.net.parameters(), lr=0.05), settings)
    trainer.train(2, load_latest=False, fail_safe=False)
    return actor.net.module.weight.detach().flatten().tolist()


def test_ddp_with_two_gloo_processes_keeps_global_batch_and_steps(tmp_path):
    import json
    from rgbt.synthetic import SequenceSpec, generate_benchmark
    synthetic = generate_benchmark(tmp_path / 'syn', 'rgbt234', {'train': 2, 'test': 1},
                                   SequenceSpec(num_frames=24, width=96, height=80), seed=0, progress=False)
    torch.multiprocessing.spawn(_ddp_rank_counts, args=(2, str(tmp_path / 'init'), str(synthetic), str(tmp_path)),
                                nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f'rank{rank}.json').read_text()) for rank in (0, 1)]
    for rank in ranks:
        assert rank['counts'] == [[2, 4]] * 3     # 2 samples per process, 4 per step in all, 3 steps as one process
    assert ranks[0]['first_batch'] != ranks[1]['first_batch']                # per-rank sampler seeds
    # DDP averaged the gradients of the two ranks' data: the same weights on both, and those of one
    # process stepping on the mean gradient.
    assert ranks[0]['weights'] == pytest.approx(ranks[1]['weights'], abs=1e-7)
    from test_optimisation import LinearActor, linear_batch
    torch.manual_seed(0)
    single = LinearActor()
    optimiser = torch.optim.SGD(single.net.parameters(), lr=0.05)
    for _ in range(2):
        optimiser.zero_grad()
        losses = [single(linear_batch(10 + rank))[0] for rank in (0, 1)]
        (sum(losses) / 2).backward()
        optimiser.step()
    assert ranks[0]['weights'] == pytest.approx(single.net.weight.detach().flatten().tolist(), rel=1e-5)
    # Only rank 0 writes checkpoints; one process resumes from them (no DDP 'module.' prefix).
    folder = Path('checkpoints') / 'ltr' / 'test' / 'ddp_linear'
    assert not list((tmp_path / 'workspace1').rglob('*.pth.tar'))
    assert len(list((tmp_path / 'workspace0' / folder).glob('*.pth.tar'))) == 2
    settings = Settings('test', 'ddp_linear')
    settings.env.workspace_dir = str(tmp_path / 'workspace0')
    settings.use_tensorboard = False
    resumed = LinearActor()
    trainer = LTRTrainer(resumed, [], torch.optim.SGD(resumed.net.parameters(), lr=0.05), settings)
    assert trainer.load_checkpoint() and trainer.epoch == 2
    assert resumed.net.weight.detach().flatten().tolist() == pytest.approx(ranks[0]['weights'], abs=1e-7)
