"""Epoch-based trainer (pytracking's LTRTrainer): runs the actor over the loaders, steps the
optimiser and scheduler, logs averaged stats (progress bar, TensorBoard) and writes an atomic
checkpoint after every epoch; resumes from the latest checkpoint and restarts after failures."""
import logging
import math
import os
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional

import torch
from tqdm import tqdm

from ltr.admin.environment import checkpoint_dir
from ltr.admin.loading import CheckpointError, load_checkpoint_file, save_checkpoint

_logger = logging.getLogger(__name__)


def move_to(data, device):
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=True)
    if isinstance(data, dict):
        return {k: move_to(v, device) for k, v in data.items()}
    if isinstance(data, list) and data and isinstance(data[0], torch.Tensor):
        return [move_to(v, device) for v in data]
    return data


def is_transient(err: BaseException) -> bool:
    """Errors that a restart from the last checkpoint can get past: CUDA out of memory (after freeing
    the cache) and a data loader worker killed from outside (e.g. by the OOM killer)."""
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    message = str(err)
    return isinstance(err, RuntimeError) and 'DataLoader worker' in message and (
        'exited unexpectedly' in message or 'killed by signal' in message)


def loss_postfix(totals: Dict[str, float], count: int) -> Dict[str, str]:
    """Running averages of every loss term for the progress bar: total first, then e.g. scfd, hfrd."""
    names = ['Loss/total'] + sorted(k for k in totals if k.startswith('Loss/') and k != 'Loss/total')
    return {name.split('/', 1)[1].replace('total', 'loss'): f"{totals[name] / max(count, 1):.4g}"
            for name in names if name in totals}


def _set_aside(path: Path) -> Path:
    """Renames a damaged checkpoint to `<name>.damaged` (`.damaged2`, ... if taken); never deletes it."""
    target, number = path.with_name(path.name + '.damaged'), 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.damaged{number}")
    path.rename(target)
    return target


class LTRTrainer:
    """Args:
        actor: BaseActor.
        loaders: LTRLoaders ('train', optionally 'val').
        optimizer, lr_scheduler: torch optimiser and scheduler (stepped once per epoch).
        settings: ltr.admin.settings.Settings (device, checkpoint paths, grad clipping, AMP, rank).
    """

    def __init__(self, actor, loaders: List, optimizer, settings, lr_scheduler=None):
        self.actor = actor
        self.loaders = loaders
        self.optimizer = optimizer
        self.settings = settings
        self.lr_scheduler = lr_scheduler
        self.epoch = 0
        self.stats: Dict[str, Dict[str, List[float]]] = {}
        self.device = torch.device(settings.device)
        self.actor.to(self.device)
        if settings.world_size > 1:
            # One process per GPU (torchrun): gradients are averaged by DistributedDataParallel.
            device_ids = [self.device.index] if self.device.type == 'cuda' else None
            self.actor.net = torch.nn.parallel.DistributedDataParallel(
                self.actor.net, device_ids=device_ids, find_unused_parameters=True)   # layer4 and fc never run
        self.checkpoint_dir = checkpoint_dir(settings.env.workspace_dir, settings.module_name, settings.script_name)
        self.is_main = settings.rank == 0
        self._writers = {}
        amp_on_cuda = settings.use_amp and self.device.type == 'cuda'
        self.scaler = torch.amp.GradScaler('cuda') if amp_on_cuda else None

    # ---- checkpoints ----

    def checkpoint_files(self) -> List[Path]:
        return sorted(self.checkpoint_dir.glob('*_ep*.pth.tar'))

    def save_checkpoint(self) -> Path:
        state = self.actor.checkpoint_state()
        state.update(epoch=self.epoch, actor_type=type(self.actor).__name__, optimizer=self.optimizer.state_dict(),
                     stats=self.stats, settings=self.settings.to_dict())
        if self.lr_scheduler is not None:
            state['lr_scheduler'] = self.lr_scheduler.state_dict()
        path = save_checkpoint(state, self.checkpoint_dir / f"{state['net_type']}_ep{self.epoch:04d}.pth.tar")
        keep = self.settings.keep_checkpoints
        if keep:                                  # older epochs beyond the newest `keep` are deleted
            for old in self.checkpoint_files()[:-keep]:
                old.unlink()
        return path

    def remove_stale_temporary_files(self) -> None:
        """Deletes the temporary files of saves killed half-way (atomic_write names them `<file>.<random>.tmp`)."""
        for stale in self.checkpoint_dir.glob('*.pth.tar.*.tmp'):
            _logger.warning("removing %s, left by an interrupted checkpoint save", stale)
            stale.unlink(missing_ok=True)

    def load_checkpoint(self, path: Optional[Path] = None) -> bool:
        """Loads the given or the latest readable checkpoint; False when there is none.

        A damaged latest checkpoint (e.g. truncated by a full disk) is reported, renamed to
        `<name>.damaged` (kept for inspection, and not overwritten when that epoch is trained again)
        and the previous epoch's checkpoint is used instead."""
        if path is not None:
            return self._load_checkpoint_file(path)
        files = self.checkpoint_files()
        for newest_first, candidate in enumerate(reversed(files)):
            try:
                return self._load_checkpoint_file(candidate)
            except CheckpointError as err:
                older = files[-2 - newest_first] if newest_first + 1 < len(files) else None
                _logger.warning("cannot resume from %s (%s); %s", candidate, err,
                                f"falling back to {older.name}" if older else "no older checkpoint")
                if older is not None and self.is_main:
                    _set_aside(candidate)
        if files:
            raise CheckpointError(f"none of the checkpoints in {self.checkpoint_dir} can be read "
                                  f"({', '.join(f.name for f in files)}); move them away to start afresh")
        return False

    def _load_checkpoint_file(self, path: Path) -> bool:
        checkpoint = load_checkpoint_file(path, map_location='cpu')
        self.actor.load_checkpoint_state(checkpoint)
        self.optimizer.load_state_dict(checkpoint['optimizer'])
        if self.lr_scheduler is not None and 'lr_scheduler' in checkpoint:
            self.lr_scheduler.load_state_dict(checkpoint['lr_scheduler'])
        self.epoch = checkpoint['epoch']
        self.stats = checkpoint.get('stats', {})
        _logger.info("resumed from %s (epoch %d)", path, self.epoch)
        return True

    # ---- training ----

    def train(self, max_epochs: int, load_latest: bool = True, fail_safe: bool = True, max_restarts: int = 10):
        """Trains up to `max_epochs`, resuming from the latest checkpoint.

        With `fail_safe`, a transient failure (a crashed data loader worker, CUDA out of memory)
        reloads the latest checkpoint and continues, at most `max_restarts` times. Any other error
        (bad data, a shape mismatch, a non-finite loss) would fail again in the same way: it stops
        the run at once."""
        if self.is_main:
            self.remove_stale_temporary_files()
        restarts = 0
        while True:
            try:
                if load_latest:
                    self.load_checkpoint()
                while self.epoch < max_epochs:
                    self.epoch += 1
                    self.train_epoch()
                    if self.lr_scheduler is not None:
                        self.lr_scheduler.step()
                    if self.is_main:
                        self.save_checkpoint()
                return self.stats
            except Exception as err:
                if not fail_safe or restarts >= max_restarts or not is_transient(err):
                    raise
                restarts += 1
                _logger.error("training failed with a transient error (restart %d of %d): %s",
                              restarts, max_restarts, ''.join(traceback.format_exception_only(err)).strip())
                if isinstance(err, torch.cuda.OutOfMemoryError):
                    torch.cuda.empty_cache()
                load_latest = True
                self.epoch = 0

    def train_epoch(self) -> None:
        for loader in self.loaders:
            if self.epoch % loader.epoch_interval == 0:
                self.cycle_dataset(loader)

    def _autocast(self):
        if not self.settings.use_amp:
            return torch.autocast(self.device.type, enabled=False)
        dtype = torch.float16 if self.device.type == 'cuda' else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def step(self, data: dict, training: bool) -> Dict[str, float]:
        """One iteration: forward, and backward + optimiser step when training."""
        data = move_to(data, self.device)
        with self._autocast():
            loss, stats = self.actor(data)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"non-finite loss {loss.item()} at epoch {self.epoch}: {stats}")
        if training:
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()
            if self.settings.grad_clip_max_norm:
                torch.nn.utils.clip_grad_norm_(self.actor.net.parameters(), self.settings.grad_clip_max_norm)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
        return stats

    def cycle_dataset(self, loader) -> None:
        self.actor.train(loader.training)
        torch.set_grad_enabled(loader.training)
        totals, count = defaultdict(float), 0
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"[{loader.name}] epoch {self.epoch}", disable=not self.is_main, leave=False)
        for data in bar:
            stats = self.step(data, loader.training)
            batch = data['train_rgb'].shape[loader.stack_dim]
            count += batch
            for key, value in stats.items():
                totals[key] += value * batch
            bar.set_postfix(loss_postfix(totals, count))
        torch.set_grad_enabled(True)
        averages = {key: value / max(count, 1) for key, value in totals.items()}
        averages['Time/seconds_per_iteration'] = (time.perf_counter() - start) / max(len(loader), 1)
        for key, value in averages.items():
            self.stats.setdefault(loader.name, {}).setdefault(key, []).append(float(value))
        if self.is_main:
            _logger.info("[%s] epoch %d: %s", loader.name, self.epoch,
                         ', '.join(f"{k}={v:.4f}" for k, v in averages.items()))
            self._log_tensorboard(loader.name, averages)

    def _log_tensorboard(self, name: str, averages: Dict[str, float]) -> None:
        if not self.settings.use_tensorboard:
            return
        if name not in self._writers:
            from torch.utils.tensorboard import SummaryWriter  # optional and slow to import: only with TensorBoard on
            log_dir = os.path.join(self.settings.env.tensorboard_dir, self.settings.project_path, name)
            self._writers[name] = SummaryWriter(log_dir)
        for key, value in averages.items():
            self._writers[name].add_scalar(key, value, self.epoch)
        self._writers[name].flush()
