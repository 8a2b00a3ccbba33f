"""Train a network: python ltr/run_training.py cmd student_distill [options]

Runs ltr/train_settings/<module>/<name>.py's run(settings). Multi-GPU with DistributedDataParallel:
    torchrun --nproc_per_node=K ltr/run_training.py cmd student_distill
CPU smoke run of any setting on the synthetic benchmark:
    CMD_PROFILE=smoke python ltr/run_training.py cmd teacher
"""
import argparse
import importlib
import logging
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

import cv2  # noqa: E402
import torch  # noqa: E402

from ltr.admin.settings import Settings  # noqa: E402
from rgbt.distill import DEFAULT_REDUCTION, REDUCTIONS, TARGET_NORMS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a tracking network (pytracking style).')
    parser.add_argument('train_module', help='module under ltr/train_settings, e.g. cmd')
    parser.add_argument('train_name', help='settings file, e.g. student_distill')
    parser.add_argument('--cudnn_benchmark', type=int, choices=(0, 1), default=1)
    parser.add_argument('--device', default=None, help='cpu, cuda or cuda:N (default: cuda when available)')
    parser.add_argument('--epochs', type=int, default=None, help='override the number of epochs')
    parser.add_argument('--workers', type=int, default=None, help='data loader workers')
    parser.add_argument('--iterations', type=int, default=None, help='override the iterations per epoch')
    parser.add_argument('--batch-size', type=int, default=None, help='override the batch size')
    parser.add_argument('--scale-batch-with-processes', action='store_true',
                        help='under torchrun, each process takes the whole batch (default: the batch is split '
                             'over the processes, keeping the single-process global batch and steps)')
    parser.add_argument('--distill-reduction', choices=REDUCTIONS, default=DEFAULT_REDUCTION,
                        help="l(.) of SCFD/MPSD: 'sum' = FitNets' 1/2 sum per sample, 'channel_sum' = sum over "
                             "channels and mean over positions (default), 'mean' = per element (rgbt/distill.py)")
    parser.add_argument('--scfd-target-norm', choices=TARGET_NORMS, default='none',
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
    parser.add_argument('--seed', type=int, default=0, help="seed of the network initialisation and of the training samples")
    parser.add_argument('--modality-dropout', type=float, default=0.0, metavar='P',
                        help='drop one modality of a test frame with probability P (default 0: the paper\'s recipe)')
    parser.add_argument('--modality-dropout-mode', default='blank', choices=('blank', 'hold'))
    parser.add_argument('--keep-checkpoints', type=int, default=None,
                        help='keep only the newest N epoch checkpoints (default: all, as pytracking)')
    return parser.parse_args(argv)


def distributed_setup(settings) -> None:
    """Under torchrun (WORLD_SIZE > 1): one process per GPU, NCCL (gloo on CPU)."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size <= 1:
        return
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    torch.distributed.init_process_group(backend)
    settings.rank = torch.distributed.get_rank()
    settings.world_size = world_size
    if torch.cuda.is_available():
        local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local_rank)
        settings.device = f'cuda:{local_rank}'


def build_settings(args) -> Settings:
    settings = Settings(args.train_module, args.train_name)
    settings.device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    settings.epochs_override = args.epochs
    settings.num_workers_override = args.workers
    settings.iterations_override = args.iterations
    settings.batch_size_override = args.batch_size
    settings.scale_batch_with_processes = args.scale_batch_with_processes
    settings.use_amp = args.amp
    settings.grad_clip_max_norm = args.grad_clip
    settings.dimp_init = args.dimp_init
    settings.teacher_checkpoint = args.teacher
    settings.backbone_pretrained = not args.no_backbone_pretrained
    settings.fail_safe = not args.no_fail_safe
    settings.use_tensorboard = not args.no_tensorboard
    settings.keep_checkpoints = args.keep_checkpoints
    settings.seed = args.seed
    settings.modality_dropout = args.modality_dropout
    settings.modality_dropout_mode = args.modality_dropout_mode
    # CMD distillation choices (see rgbt/distill.py); edit here or in a settings file.
    settings.distill_alpha = 1e-3
    settings.distill_beta = 100.0
    settings.abf_mid_channels = 128
    settings.abf_shared = False
    settings.hfrd_iterate = -1
    settings.distill_reduction = args.distill_reduction
    settings.scfd_target_norm = args.scfd_target_norm
    distributed_setup(settings)
    return settings


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    cv2.setNumThreads(0)
    torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
    settings = build_settings(args)
    torch.manual_seed(args.seed + settings.rank)      # reproducible initialisation (data: the sampler's seed)
    module = importlib.import_module(f"ltr.train_settings.{args.train_module}.{args.train_name}")
    module.run(settings)


if __name__ == '__main__':
    main()
