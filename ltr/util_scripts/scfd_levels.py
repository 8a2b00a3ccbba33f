"""Per-level SCFD terms (Eqs. 1-3) for a trained teacher and a fresh student on one batch of the
synthetic training split (smoke crops): the scale of the teacher features and of the SEM/CEM
targets, and each level's l(.) against the student's adapted (review chain) features.

    python ltr/util_scripts/scfd_levels.py --teacher CHECKPOINT_OR_FOLDER --synthetic DIR
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import torch  # noqa: E402

from ltr.actors.tracking import net_inputs  # noqa: E402
from ltr.admin.loading import checkpoint_path, load_network  # noqa: E402
from rgbt.distill import CMDDistillLoss, distillation_targets  # noqa: E402
from rgbt.nets import DISTILL_LAYERS, cmd_student, distill_channels  # noqa: E402
from ltr import run_training  # noqa: E402
from ltr.train_settings.cmd.common import configure, train_loader  # noqa: E402
from ltr.train_settings.cmd.config import PROFILES  # noqa: E402


def training_batch(synthetic_root: str, batch_size: int = 4) -> dict:
    """One batch of the smoke profile's training loader on the given synthetic benchmark."""
    config = PROFILES['smoke'].replace(backbone_pretrained=False, batch_size=batch_size)
    settings = run_training.build_settings('cmd', 'student_distill', config, 'cpu')
    configure(settings, 'student')
    settings.env.synthetic_dir = synthetic_root
    return next(iter(train_loader(settings)))


def level_report(teacher, student, data) -> list:
    loss = CMDDistillLoss(distill_channels(student), distill_channels(teacher))
    with torch.no_grad():
        teacher_features = teacher(*net_inputs(data), return_features=True)[2]
        student_features = student(*net_inputs(data), return_features=True)[2]
        adapted = loss.review_rgb([student_features['rgb'][layer] for layer in DISTILL_LAYERS])
    rows = []
    for level, layer in enumerate(DISTILL_LAYERS, start=1):
        target, _ = distillation_targets('scfd', level, teacher_features['rgb'][layer], teacher_features['tir'][layer])
        rows.append((level, layer, float(teacher_features['rgb'][layer].std()), float(target.std()),
                     float(target.abs().max()), float(adapted[level - 1].std()),
                     float(loss.l(adapted[level - 1], target))))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--teacher', required=True, help='teacher checkpoint file or folder')
    parser.add_argument('--synthetic', required=True, help='synthetic benchmark root (its training split is sampled)')
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    teacher = load_network(checkpoint_path(args.teacher))[0].eval()
    student = cmd_student(backbone_pretrained=False).train()
    print('| level | layer | teacher RGB std | target std | target max | adapted student std | l(.) (RGB) |')
    print('|---|---|---|---|---|---|---|')
    for row in level_report(teacher, student, training_batch(args.synthetic)):
        print('| {} | {} | {:.2f} | {:.2f} | {:.1f} | {:.2f} | {:.0f} |'.format(*row))


if __name__ == '__main__':
    main()
