"""What the CMD training settings share: the configuration check, the training data (datasets ->
processing -> sampler -> loader, the same for every role), the optimiser (Adam with the config's
per-group learning rates, StepLR), the teacher's checkpoint and the parameter report. Each setting
file (teacher.py, student.py, student_distill.py and the ablations) tells its own recipe top to
bottom with these.

Every hyper-parameter comes from `settings.config`, a `TrainConfig` (ltr/train_settings/cmd/config.py,
which also defines the profiles 'dimp_lasher' and 'smoke').
"""
import logging
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from torch import nn

from ltr.actors import CMDTrainingNet
from ltr.admin.environment import checkpoint_dir
from ltr.admin.loading import checkpoint_path
from ltr.admin.variables import read_variable
from ltr.data.loader import LTRLoader
from ltr.data.processing import RGBTDiMPProcessing
from ltr.data.sampler import RGBTDiMPSampler
from ltr.data.transforms import ToGrayscale, ToTensorAndJitter
from ltr.dataset import LasHeR, Synthetic
from ltr.train_settings.cmd.config import TrainConfig
from ltr.train_settings.cmd.tables import paper_params
from rgbt.synthetic import SequenceSpec, generate_benchmark

_logger = logging.getLogger(__name__)

def configure(settings, role: str) -> TrainConfig:
    """Checks that `settings.config` is set and derives the role's values the trainer reads
    (batch, samples per epoch, AMP, clipping, TensorBoard, checkpoints kept)."""
    config = settings.config
    if not isinstance(config, TrainConfig):
        raise TypeError("settings.config must be a TrainConfig (ltr/train_settings/cmd/config.py); "
                        "run the setting through ltr/run_training.py or ltr.run_training.train")
    settings.role = role
    settings.batch_size = config.batch_size_for(role)
    settings.samples_per_epoch = config.samples_per_epoch_for(role)
    settings.num_workers = config.num_workers
    settings.use_amp, settings.grad_clip_max_norm = config.amp, config.grad_clip
    settings.use_tensorboard, settings.keep_checkpoints = config.tensorboard, config.keep_checkpoints
    return config


def synthetic_root(settings) -> Path:
    """The synthetic benchmark of synthetic_dir, generated (small) when it does not exist yet."""
    root = Path(settings.env.synthetic_dir)
    if settings.rank == 0 and not (root / 'synthetic.json').is_file():
        _logger.info("generating the synthetic benchmark in %s", root)
        generate_benchmark(root, 'rgbt234', {'train': 8, 'test': 4}, SequenceSpec(num_frames=60), seed=0)
    if settings.world_size > 1:
        torch.distributed.barrier()          # the other processes wait until rank 0 has written it
    return root


def per_process_schedule(batch_size: int, samples_per_epoch: int, world_size: int,
                         scale_batch_with_processes: bool = False) -> Tuple[int, int]:
    """(batch per process, optimiser steps per epoch) under DDP with `world_size` processes.

    Default: the single-process recipe's global batch is split over the K processes (batch / K each),
    so the global batch and the steps per epoch equal one process's. `scale_batch_with_processes`
    (--scale-batch-with-processes) gives each process the whole batch instead: K times the global
    batch and 1/K of the steps. A batch that K does not divide is rounded down, with a warning."""
    if scale_batch_with_processes or world_size == 1:
        return batch_size, max(1, samples_per_epoch // (batch_size * world_size))
    if batch_size < world_size:
        raise ValueError(f"batch size {batch_size} cannot be split over {world_size} processes; "
                         f"raise --batch-size or pass --scale-batch-with-processes")
    if batch_size % world_size:
        _logger.warning("batch size %d is not divisible by %d processes: %d per process (global %d)",
                        batch_size, world_size, batch_size // world_size, batch_size // world_size * world_size)
    return batch_size // world_size, max(1, samples_per_epoch // batch_size)


def train_datasets(settings) -> List:
    if settings.config.data == 'synthetic':
        return [Synthetic(synthetic_root(settings), 'train')]
    return [LasHeR(split='train')]          # lasher_dir of ltr/admin/local.py or LASHER_PATH


def train_loader(settings) -> LTRLoader:
    config = settings.config
    feature_sz = config.output_sz // 16
    processing = RGBTDiMPProcessing(
        search_area_factor=config.search_area_factor, output_sz=config.output_sz,
        center_jitter_factor={'train': config.center_jitter_train, 'test': config.center_jitter_test},
        scale_jitter_factor={'train': config.scale_jitter_train, 'test': config.scale_jitter_test},
        label_function_params={'feature_sz': feature_sz,
                               'sigma_factor': config.output_sigma_factor / config.search_area_factor,
                               'kernel_sz': config.target_filter_sz},
        joint_transform=ToGrayscale(config.grayscale_probability), transform=ToTensorAndJitter(config.brightness_jitter),
        modality_dropout=config.modality_dropout, modality_dropout_mode=config.modality_dropout_mode)
    batch, steps = per_process_schedule(settings.batch_size, settings.samples_per_epoch, settings.world_size,
                                        config.scale_batch_with_processes)
    sampler = RGBTDiMPSampler(train_datasets(settings), None, steps * batch, max_gap=config.max_gap,
                              num_test_frames=config.frames_per_set, num_train_frames=config.frames_per_set,
                              processing=processing, seed=1000 * settings.rank + 100003 * config.seed)
    return LTRLoader('train', sampler, training=True, batch_size=batch, shuffle=False,
                     num_workers=settings.num_workers, drop_last=True, stack_dim=1)


def parameter_groups(net: nn.Module, config: TrainConfig, role: str) -> List[Dict]:
    """Adam groups of the tracking network by module prefix (the first matching prefix wins), at the
    config's rates for `role`; the rest (fusion, and a CMDTrainingNet's distillation adapters) at
    config.lr_base."""
    rates = config.learning_rates(role)
    tracking_net = net.student if isinstance(net, CMDTrainingNet) else net
    groups = {prefix: [] for prefix in rates}
    grouped = set()
    for name, param in tracking_net.named_parameters():
        prefix = next((p for p in rates if name.startswith(p)), None)
        if param.requires_grad and prefix:
            groups[prefix].append(param)
            grouped.add(id(param))
    rest = [p for p in net.parameters() if p.requires_grad and id(p) not in grouped]
    out = [{'params': params, 'lr': rates[prefix]} for prefix, params in groups.items() if params]
    if rest:
        out.append({'params': rest, 'lr': config.lr_base})
    return out


def optimiser(settings, net: nn.Module, role: str):
    """Adam over `net`'s parameter groups and DiMP's StepLR schedule: (optimizer, scheduler)."""
    config = settings.config
    if config.lr_role(role) != role:
        _logger.info("%s trains with the %s learning rates (lr_recipe=%r, backbone_pretrained=%s, dimp_init=%s)",
                     role, config.lr_role(role), config.lr_recipe, config.backbone_pretrained, config.dimp_init)
    optimizer = torch.optim.Adam(parameter_groups(net, config, role), lr=config.lr_base)
    return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)


def find_teacher(settings) -> Path:
    """The teacher checkpoint: the config's `teacher`, CMD_TEACHER, or the latest cmd/teacher
    checkpoint in the workspace."""
    given = settings.config.teacher or read_variable('CMD_TEACHER')
    folder = checkpoint_dir(settings.env.workspace_dir, 'cmd', 'teacher')
    try:
        return checkpoint_path(given or folder)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"No teacher checkpoint ({err}). Train it first with `python ltr/run_training.py cmd teacher` "
            f"(same CMD_PROFILE), or point CMD_TEACHER at a teacher checkpoint file.") from None


def report_parameters(settings, net: nn.Module) -> None:
    """Prints the network's parameter count beside the paper's for this setting (tables.py), and
    stores both."""
    paper_params_m = paper_params(settings.script_name)
    count = sum(p.numel() for p in net.parameters()) / 1e6
    settings.params_m, settings.paper_params_m = round(count, 2), paper_params_m
    paper = f" (paper: {paper_params_m} M)" if paper_params_m is not None else ''
    print(f"{settings.script_name}: {count:.2f} M parameters{paper}", flush=True)
