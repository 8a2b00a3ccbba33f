"""Shared pieces of the CMD training settings: data, optimiser, and the run of a student or teacher.

Every hyper-parameter comes from `settings.config`, a `TrainConfig` (ltr/train_settings/cmd/config.py,
which also defines the profiles 'dimp_lasher' and 'smoke').
"""
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ltr.actors import CMDTrainingNet, RGBTDiMPActor
from ltr.actors.tracking import dimp_objective
from ltr.admin.variables import read_variable
from ltr.data.loader import LTRLoader
from ltr.data.processing import RGBTDiMPProcessing
from ltr.data.sampler import RGBTDiMPSampler
from ltr.data.transforms import ToGrayscale, ToTensorAndJitter
from ltr.train_settings.cmd.config import TrainConfig
from ltr.trainers import LTRTrainer

_logger = logging.getLogger(__name__)

# Adam learning rates per parameter group (pytracking's DiMP-18 / DiMP-50 settings).
LEARNING_RATES = {
    'student': {'classifier.filter_initializer': 5e-5, 'classifier.filter_optimizer': 5e-4,
                'classifier.feature_extractor': 5e-5, 'bb_regressor': 1e-3, 'feature_extractor': 2e-4},
    'teacher': {'classifier.filter_initializer': 5e-5, 'classifier.filter_optimizer': 5e-4,
                'classifier.feature_extractor': 5e-5, 'bb_regressor': 2e-4, 'feature_extractor': 2e-5},
}
BASE_LR = 2e-4       # fusion modules, distillation adapters and anything not listed above


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
    from rgbt.synthetic import SequenceSpec, generate_benchmark
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
    from ltr.dataset import LasHeR, Synthetic
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


def parameter_groups(net: nn.Module, role: str) -> List[Dict]:
    """Adam groups of the tracking network by module prefix (the first matching prefix wins); the
    rest (fusion, and a CMDTrainingNet's distillation adapters) at BASE_LR."""
    rates = LEARNING_RATES[role]
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
        out.append({'params': rest, 'lr': BASE_LR})
    return out


def train(settings, actor, role: str) -> Dict:
    """Adam with per-group learning rates (DiMP's, see TrainConfig.lr_role), StepLR, checkpoints,
    resume, fail-safe."""
    config = settings.config
    lr_role = config.lr_role(role)
    if lr_role != role:
        _logger.info("%s trains with the %s learning rates (lr_recipe=%r, backbone_pretrained=%s, dimp_init=%s)",
                     role, lr_role, config.lr_recipe, config.backbone_pretrained, config.dimp_init)
    optimizer = torch.optim.Adam(parameter_groups(actor.net, lr_role), lr=BASE_LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
    trainer = LTRTrainer(actor, [train_loader(settings)], optimizer, settings, scheduler)
    return trainer.train(config.epochs, load_latest=True, fail_safe=config.fail_safe)


def net_kwargs(settings) -> Dict:
    return {'backbone_pretrained': settings.config.backbone_pretrained}


def train_plain_student(settings, fusion: str, paper_params_m: Optional[float] = None) -> Dict:
    """A student trained with the DiMP loss alone (no teacher)."""
    from rgbt.nets import cmd_student, init_from_dimp
    config = configure(settings, 'student')
    net = cmd_student(fusion=fusion, **net_kwargs(settings))
    report_parameters(settings, net, paper_params_m)
    if config.dimp_init:
        init_from_dimp(net, config.dimp_init)
    return train(settings, RGBTDiMPActor(net, dimp_objective(config.hinge_threshold)), 'student')


def find_teacher(settings) -> Path:
    """The teacher checkpoint: the config's `teacher`, CMD_TEACHER, or the latest cmd/teacher
    checkpoint in the workspace."""
    from ltr.admin.loading import checkpoint_path
    given = settings.config.teacher or read_variable('CMD_TEACHER')
    from ltr.admin.environment import checkpoint_dir
    folder = checkpoint_dir(settings.env.workspace_dir, 'cmd', 'teacher')
    try:
        return checkpoint_path(given or folder)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"No teacher checkpoint ({err}). Train it first with `python ltr/run_training.py cmd teacher` "
            f"(same CMD_PROFILE), or point CMD_TEACHER at a teacher checkpoint file.") from None


def report_parameters(settings, net: nn.Module, paper_params_m: Optional[float]) -> None:
    """Prints the network's parameter count beside the paper's (Tables 1-4), and stores both."""
    count = sum(p.numel() for p in net.parameters()) / 1e6
    settings.params_m, settings.paper_params_m = round(count, 2), paper_params_m
    paper = f" (paper: {paper_params_m} M)" if paper_params_m is not None else ''
    print(f"{settings.script_name}: {count:.2f} M parameters{paper}", flush=True)


def train_distilled_student(settings, fusion: str, use_scfd: bool, use_mpsd: bool, use_hfrd: bool,
                            scfd_targets: str = 'scfd', paper_params_m: Optional[float] = None,
                            two_stream: bool = False, fusion_layers: Optional[Sequence[str]] = None,
                            use_kd: bool = False) -> Dict:
    """A student distilled from the trained teacher with the chosen CMD terms.

    `scfd_targets`: SCFD's teacher targets ('scfd', Table 2's 'afd' / 'sed' / 'ced', Table 4's
    'reviewkd'). With `use_mpsd`, L_fus applies to any fusion module (at `fusion_layers`); L_p only
    where the fusion has MPSD's paths (default levels: layer2 and layer3). `two_stream`: Table 4's two-ResNet18 student. `use_kd`: Table
    4's response KD."""
    from ltr.actors import CMDDistillActor, CMDTrainingNet
    from ltr.admin.loading import load_network
    from rgbt.distill import CMDDistillLoss
    from rgbt.nets import FUSED_LAYERS, cmd_student, cmd_student_two_stream, distill_channels, init_from_dimp
    config = configure(settings, 'student')
    teacher, _ = load_network(find_teacher(settings), expected_kind=('cmd_teacher',), role='teacher')
    build = cmd_student_two_stream if two_stream else cmd_student
    student = build(fusion=fusion, **net_kwargs(settings))
    report_parameters(settings, student, paper_params_m)
    if config.dimp_init:
        init_from_dimp(student, config.dimp_init)
    distill = CMDDistillLoss(distill_channels(student), distill_channels(teacher),
                             use_scfd=use_scfd, use_mpsd=use_mpsd, use_hfrd=use_hfrd,
                             alpha=config.distill_alpha, beta=config.distill_beta,
                             mid_channels=config.abf_mid_channels, shared_abf=config.abf_shared,
                             hfrd_iterate=config.hfrd_iterate, reduction=config.distill_reduction,
                             scfd_targets=scfd_targets, fusion_layers=fusion_layers or FUSED_LAYERS, use_kd=use_kd,
                             scfd_target_norm=config.scfd_target_norm)
    actor = CMDDistillActor(CMDTrainingNet(student, distill), teacher, dimp_objective(config.hinge_threshold))
    return train(settings, actor, 'student')
