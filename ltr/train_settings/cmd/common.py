"""Shared pieces of the CMD training settings: data, optimiser, and the two profiles.

Profiles (environment variable CMD_PROFILE):
- 'dimp_lasher' (default): DiMP's training recipe (pytracking's dimp18/dimp50 settings: batch sizes,
  epochs, learning rates, 288x288 crops) on the LasHeR training split (979 sequences). The CMD paper
  names the data (LasHeR) and alpha/beta only; the rest is DiMP's recipe, our choice.
- 'smoke': the synthetic benchmark (generated on demand under synthetic_dir), 128x128 crops,
  batch 2, a few iterations per epoch: a CPU run of every setting in about a minute per epoch.
"""
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ltr.actors import RGBTDiMPActor
from ltr.data.loader import LTRLoader
from ltr.data.processing import RGBTDiMPProcessing
from ltr.data.sampler import RGBTDiMPSampler
from ltr.data.transforms import ToGrayscale, ToTensorAndJitter
from ltr.trainers import LTRTrainer

_logger = logging.getLogger(__name__)

PROFILES = {
    # name: values that differ between profiles (student / teacher where they differ)
    'dimp_lasher': dict(output_sz=288, batch_size={'student': 26, 'teacher': 10}, samples_per_epoch=26000,
                  epochs=50, num_workers=8, synthetic=False),
    'smoke': dict(output_sz=128, batch_size={'student': 2, 'teacher': 2}, samples_per_epoch=8,
                  epochs=2, num_workers=0, synthetic=True),
}

# Adam learning rates per parameter group (pytracking's DiMP-18 / DiMP-50 settings).
LEARNING_RATES = {
    'student': {'classifier.filter_initializer': 5e-5, 'classifier.filter_optimizer': 5e-4,
                'classifier.feature_extractor': 5e-5, 'bb_regressor': 1e-3, 'feature_extractor': 2e-4},
    'teacher': {'classifier.filter_initializer': 5e-5, 'classifier.filter_optimizer': 5e-4,
                'classifier.feature_extractor': 5e-5, 'bb_regressor': 2e-4, 'feature_extractor': 2e-5},
}
BASE_LR = 2e-4       # fusion modules, distillation adapters and anything not listed above


def profile_name() -> str:
    name = os.environ.get('CMD_PROFILE', 'dimp_lasher')
    if name == 'paper':             # the profile's earlier name
        _logger.warning("CMD_PROFILE=paper is now called 'dimp_lasher' (DiMP's recipe on LasHeR)")
        name = 'dimp_lasher'
    if name not in PROFILES:
        raise ValueError(f"CMD_PROFILE={name!r}; choose from {sorted(PROFILES)}")
    return name


def configure(settings, role: str) -> None:
    """Sets the DiMP training hyper-parameters for `role` ('student' or 'teacher') and the profile."""
    profile = PROFILES[profile_name()]
    settings.profile = profile_name()
    settings.role = role
    settings.batch_size = getattr(settings, 'batch_size_override', None) or profile['batch_size'][role]
    iterations = getattr(settings, 'iterations_override', None)
    settings.samples_per_epoch = iterations * settings.batch_size if iterations else profile['samples_per_epoch']
    settings.epochs = getattr(settings, 'epochs_override', None) or profile['epochs']
    workers = getattr(settings, 'num_workers_override', None)
    settings.num_workers = profile['num_workers'] if workers is None else workers
    settings.output_sz = profile['output_sz']
    settings.search_area_factor = 5.0
    settings.feature_sz = settings.output_sz // 16
    settings.output_sigma_factor = 1 / 4
    settings.target_filter_sz = 4
    settings.center_jitter_factor = {'train': 3.0, 'test': 4.5}
    settings.scale_jitter_factor = {'train': 0.25, 'test': 0.5}
    settings.hinge_threshold = 0.05
    settings.use_synthetic = profile['synthetic']


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
    if settings.use_synthetic:
        return [Synthetic(synthetic_root(settings), 'train')]
    return [LasHeR(split='train')]          # lasher_dir of ltr/admin/local.py or LASHER_PATH


def train_loader(settings) -> LTRLoader:
    processing = RGBTDiMPProcessing(
        search_area_factor=settings.search_area_factor, output_sz=settings.output_sz,
        center_jitter_factor=settings.center_jitter_factor, scale_jitter_factor=settings.scale_jitter_factor,
        label_function_params={'feature_sz': settings.feature_sz,
                               'sigma_factor': settings.output_sigma_factor / settings.search_area_factor,
                               'kernel_sz': settings.target_filter_sz},
        joint_transform=ToGrayscale(0.05), transform=ToTensorAndJitter(0.2),
        modality_dropout=getattr(settings, 'modality_dropout', 0.0),
        modality_dropout_mode=getattr(settings, 'modality_dropout_mode', 'blank'))
    batch, steps = per_process_schedule(settings.batch_size, settings.samples_per_epoch, settings.world_size,
                                        getattr(settings, 'scale_batch_with_processes', False))
    sampler = RGBTDiMPSampler(train_datasets(settings), None, steps * batch,
                              max_gap=30, num_test_frames=3, num_train_frames=3, processing=processing,
                              seed=1000 * settings.rank + 100003 * getattr(settings, 'seed', 0))
    return LTRLoader('train', sampler, training=True, batch_size=batch, shuffle=False,
                     num_workers=settings.num_workers, drop_last=True, stack_dim=1)


def parameter_groups(net: nn.Module, role: str) -> List[Dict]:
    """Adam groups by module prefix (the first matching prefix wins), the rest at BASE_LR."""
    rates = LEARNING_RATES[role]
    groups = {prefix: [] for prefix in rates}
    rest = []
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        name = name[len('student.'):] if name.startswith('student.') else name
        prefix = next((p for p in rates if name.startswith(p)), None)
        (groups[prefix] if prefix else rest).append(param)
    out = [{'params': params, 'lr': rates[prefix]} for prefix, params in groups.items() if params]
    if rest:
        out.append({'params': rest, 'lr': BASE_LR})
    return out


def train(settings, actor, role: str) -> Dict:
    """Adam with per-group learning rates, StepLR(15, 0.2), checkpoints, resume, fail-safe.

    DiMP-50's backbone rate (2e-5) fine-tunes ImageNet weights; a teacher trained from random
    initialisation (no ImageNet weights and no --dimp-init, e.g. offline smoke runs) uses DiMP-18's
    rates instead, or its backbone barely moves."""
    from_scratch = not settings.backbone_pretrained and not settings.dimp_init
    optimizer = torch.optim.Adam(parameter_groups(actor.net, 'student' if from_scratch else role), lr=BASE_LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.2)
    trainer = LTRTrainer(actor, [train_loader(settings)], optimizer, settings, scheduler)
    return trainer.train(settings.epochs, load_latest=True, fail_safe=settings.fail_safe)


def net_kwargs(settings) -> Dict:
    return {'backbone_pretrained': settings.backbone_pretrained}


def train_plain_student(settings, fusion: str, paper_params_m: Optional[float] = None) -> Dict:
    """A student trained with the DiMP loss alone (no teacher)."""
    from rgbt.nets import cmd_student, init_from_dimp
    configure(settings, 'student')
    net = cmd_student(fusion=fusion, **net_kwargs(settings))
    report_parameters(settings, net, paper_params_m)
    if settings.dimp_init:
        init_from_dimp(net, settings.dimp_init)
    return train(settings, RGBTDiMPActor(net), 'student')


def find_teacher(settings) -> Path:
    """The teacher checkpoint: settings.teacher_checkpoint, CMD_TEACHER, or the latest cmd/teacher
    checkpoint in the workspace."""
    from ltr.admin.loading import checkpoint_path
    given = settings.teacher_checkpoint or os.environ.get('CMD_TEACHER')
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
    from rgbt.distill import DEFAULT_REDUCTION, CMDDistillLoss
    from rgbt.nets import FUSED_LAYERS, cmd_student, cmd_student_two_stream, distill_channels, init_from_dimp
    configure(settings, 'student')
    teacher, _ = load_network(find_teacher(settings), expected_kind=('cmd_teacher',), role='teacher')
    build = cmd_student_two_stream if two_stream else cmd_student
    student = build(fusion=fusion, **net_kwargs(settings))
    report_parameters(settings, student, paper_params_m)
    if settings.dimp_init:
        init_from_dimp(student, settings.dimp_init)
    distill = CMDDistillLoss(distill_channels(student), distill_channels(teacher),
                             use_scfd=use_scfd, use_mpsd=use_mpsd, use_hfrd=use_hfrd,
                             alpha=settings.distill_alpha, beta=settings.distill_beta,
                             mid_channels=settings.abf_mid_channels, shared_abf=settings.abf_shared,
                             hfrd_iterate=settings.hfrd_iterate,
                             reduction=getattr(settings, 'distill_reduction', DEFAULT_REDUCTION),
                             scfd_targets=scfd_targets, fusion_layers=fusion_layers or FUSED_LAYERS, use_kd=use_kd,
                             scfd_target_norm=getattr(settings, 'scfd_target_norm', 'none'))
    return train(settings, CMDDistillActor(CMDTrainingNet(student, distill), teacher), 'student')
