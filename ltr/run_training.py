"""Train a network: python ltr/run_training.py cmd student_distill [options]

Runs ltr/train_settings/<module>/<name>.py's run(settings). Multi-GPU with DistributedDataParallel:
    torchrun --nproc_per_node=K ltr/run_training.py cmd student_distill
CPU smoke run of any setting on the synthetic benchmark:
    CMD_PROFILE=smoke python ltr/run_training.py cmd teacher     (or --profile smoke)
Every hyper-parameter is a field of TrainConfig (ltr/train_settings/cmd/config.py): the options
below set the common ones, --set KEY=VALUE any of them.
"""
import argparse
import importlib
import logging
import os
import sys
from typing import Any, Dict, Optional

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import cv2  # noqa: E402
import torch  # noqa: E402

from ltr.admin.settings import Settings  # noqa: E402
from ltr.admin.threads import use_threads  # noqa: E402
from ltr.admin.variables import read_variable  # noqa: E402
from ltr.data.image_loader import add_thermal_range_argument, set_thermal_range  # noqa: E402
from ltr.train_settings.cmd.config import (DROPOUT_MODES, PROFILES, TrainConfig,  # noqa: E402
                                           parse_assignments, profile_config)
from rgbt.distill import REDUCTIONS, TARGET_NORMS  # noqa: E402

# Command-line options that set a TrainConfig field: option destination -> field.
CONFIG_OPTIONS = {
    'epochs': 'epochs', 'workers': 'num_workers', 'iterations': 'iterations', 'batch_size': 'batch_size',
    'distill_reduction': 'distill_reduction', 'scfd_target_norm': 'scfd_target_norm', 'grad_clip': 'grad_clip',
    'dimp_init': 'dimp_init', 'teacher': 'teacher', 'seed': 'seed', 'modality_dropout': 'modality_dropout',
    'modality_dropout_mode': 'modality_dropout_mode', 'keep_checkpoints': 'keep_checkpoints',
}
CONFIG_FLAGS = {   # store_true options -> (field, value when given)
    'amp': ('amp', True), 'scale_batch_with_processes': ('scale_batch_with_processes', True),
    'no_backbone_pretrained': ('backbone_pretrained', False), 'no_fail_safe': ('fail_safe', False),
    'no_tensorboard': ('tensorboard', False),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a tracking network (pytracking style). Options left out '
                                                 'keep the profile\'s value (ltr/train_settings/cmd/config.py).')
    parser.add_argument('train_module', help='module under ltr/train_settings, e.g. cmd')
    parser.add_argument('train_name', help='settings file, e.g. student_distill')
    parser.add_argument('--profile', default=None, choices=sorted(PROFILES),
                        help='training profile (default: CMD_PROFILE, else dimp_lasher)')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='set any TrainConfig field, e.g. --set distill_beta=10 (repeatable)')
    parser.add_argument('--cudnn_benchmark', type=int, choices=(0, 1), default=1)
    parser.add_argument('--device', default=None, help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument('--epochs', type=int, default=None, help='number of epochs')
    parser.add_argument('--workers', type=int, default=None, help='data loader workers')
    parser.add_argument('--iterations', type=int, default=None, help='iterations per epoch')
    parser.add_argument('--batch-size', type=int, default=None, help='batch size (both roles)')
    add_thermal_range_argument(parser)
    parser.add_argument('--scale-batch-with-processes', action='store_true',
                        help='under torchrun, each process takes the whole batch (default: the batch is split '
                             'over the processes, keeping the single-process global batch and steps)')
    parser.add_argument('--distill-reduction', choices=REDUCTIONS, default=None,
                        help="l(.) of SCFD/MPSD: 'sum' = FitNets' 1/2 sum per sample, 'channel_sum' = sum over "
                             "channels and mean over positions (default), 'mean' = per element (rgbt/distill.py)")
    parser.add_argument('--scfd-target-norm', choices=TARGET_NORMS, default=None,
                        help="'channel_std': SCFD's teacher targets divided by their per-channel std (our setting; "
                             "default 'none', the paper as written)")
    parser.add_argument('--amp', action='store_true', help='mixed precision (fp16 on CUDA, bf16 on CPU)')
    parser.add_argument('--grad-clip', type=float, default=None, help='clip the gradient norm')
    parser.add_argument('--dimp-init', default=None, help='pytracking DiMP checkpoint to initialise from')
    parser.add_argument('--teacher', default=None, help='teacher checkpoint for distillation settings')
    parser.add_argument('--no-backbone-pretrained', action='store_true',
                        help='random backbone (no ImageNet weights; for offline smoke runs)')
    parser.add_argument('--no-fail-safe', action='store_true', help='do not restart after an exception')
    parser.add_argument('--no-tensorboard', action='store_true')
    parser.add_argument('--seed', type=int, default=None, help="seed of the network initialisation and of the training samples")
    parser.add_argument('--modality-dropout', type=float, default=None, metavar='P',
                        help='drop one modality of a test frame with probability P (default 0: the paper\'s recipe)')
    parser.add_argument('--modality-dropout-mode', default=None, choices=DROPOUT_MODES)
    parser.add_argument('--keep-checkpoints', type=int, default=None,
                        help='keep only the newest N epoch checkpoints (default: all, as pytracking)')
    return parser.parse_args(argv)


def build_config(args) -> TrainConfig:
    """The profile with the command line's options, then its --set pairs, applied."""
    overrides: Dict[str, Any] = {}
    for option, field in CONFIG_OPTIONS.items():
        if getattr(args, option) is not None:
            overrides[field] = getattr(args, option)
    for option, (field, value) in CONFIG_FLAGS.items():
        if getattr(args, option):
            overrides[field] = value
    overrides.update(parse_assignments(args.set))
    return profile_config(args.profile).replace(**overrides)


def distributed_setup(settings) -> None:
    """Under torchrun (WORLD_SIZE > 1): one process per GPU, NCCL (gloo on CPU)."""
    world_size = int(read_variable('WORLD_SIZE') or '1')
    if world_size <= 1:
        return
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    torch.distributed.init_process_group(backend)
    settings.rank = torch.distributed.get_rank()
    settings.world_size = world_size
    if torch.cuda.is_available():
        local_rank = int(read_variable('LOCAL_RANK') or '0')
        torch.cuda.set_device(local_rank)
        settings.device = f'cuda:{local_rank}'


def build_settings(module: str, name: str, config: TrainConfig, device: Optional[str] = None,
                   paths: Optional[Dict[str, Any]] = None) -> Settings:
    """Settings of one run; `paths` replace path settings of ltr/admin/local.py (e.g. workspace_dir,
    synthetic_dir) for this run only."""
    settings = Settings(module, name)
    settings.config = config
    for key, value in (paths or {}).items():
        if not hasattr(settings.env, key):
            raise KeyError(f"unknown path setting {key!r} (see ltr/admin/local.py)")
        setattr(settings.env, key, str(value))
    settings.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    distributed_setup(settings)
    return settings


def train(module: str, name: str, config: TrainConfig, device: Optional[str] = None, cudnn_benchmark: bool = True,
          paths: Optional[Dict[str, Any]] = None):
    """Runs ltr/train_settings/<module>/<name>.py with `config` (what the command line does; tools
    call this, with their own `paths`). The configuration is printed first and stored in every checkpoint."""
    cv2.setNumThreads(0)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    # The thread count decides the float rounding, so the trained network: resolved once, applied,
    # and stored in the configuration of every checkpoint.
    config = config.replace(threads=use_threads(config.threads))
    settings = build_settings(module, name, config, device, paths)
    if settings.rank == 0:
        print(f"{module}/{name} on {settings.device}, profile {config.profile!r} (* differs from the profile):\n"
              f"{config.describe()}", flush=True)
    torch.manual_seed(config.seed + settings.rank)      # reproducible initialisation (data: the sampler's seed)
    setting = importlib.import_module(f"ltr.train_settings.{module}.{name}")
    return setting.run(settings)


def main(argv=None):
    args = parse_args(argv)
    if args.thermal_range:
        set_thermal_range(args.thermal_range)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    try:
        config = build_config(args)
    except (KeyError, ValueError) as err:
        raise SystemExit(f"run_training.py: {err.args[0] if err.args else err}")
    return train(args.train_module, args.train_name, config, args.device, bool(args.cudnn_benchmark))


if __name__ == '__main__':
    main()
