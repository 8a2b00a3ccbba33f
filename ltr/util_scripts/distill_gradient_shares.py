"""Each term of CMD's Eq. 14 on a distilled student: its value, and its share of the gradient on the
student's parameters, for each reduction of l(.).

    python ltr/util_scripts/distill_gradient_shares.py --teacher PATH [--student PATH] [--crop 288]
        [--batches 4] [--reduction sum mean] [--scfd-target-norm channel_std] [--json FILE]

Batches come from the synthetic training split (generated when missing, as CMD_PROFILE=smoke does)
through the real sampler and processing at `--crop` pixels. The weighted terms are L_original,
alpha*SCFD, alpha*L_fus, alpha*L_p and beta*HFRD; a term's gradient share is the norm of its
gradient over the sum of the five norms, averaged over the batches.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import torch  # noqa: E402

from rgbt.distill import REDUCTIONS, TARGET_NORMS  # noqa: E402
from ltr.admin.settings import Settings  # noqa: E402
from ltr.train_settings.cmd.common import configure, train_loader  # noqa: E402
from ltr.train_settings.cmd.config import PROFILES  # noqa: E402
from ltr.actors.tracking import dimp_loss, net_inputs  # noqa: E402
import copy  # noqa: E402
from ltr.actors import CMDDistillActor, CMDTrainingNet  # noqa: E402
from rgbt.distill import CMDDistillLoss  # noqa: E402
from rgbt.nets import distill_channels  # noqa: E402
from ltr.admin.atomic import atomic_write_text  # noqa: E402
from ltr.admin.loading import load_network  # noqa: E402
from rgbt.nets import cmd_student  # noqa: E402

TERMS = ('L_original', 'SCFD', 'L_fus', 'L_p', 'HFRD')


def training_batches(crop: int, batches: int, seed: int):
    """`batches` batches of 2 sequences from the synthetic training split at `crop` pixels."""
    settings = Settings('cmd', 'gradient_shares')
    settings.config = PROFILES['smoke'].replace(batch_size=2, iterations=batches, num_workers=0, output_sz=crop)
    configure(settings, 'student')
    torch.manual_seed(seed)
    return list(train_loader(settings))


def weighted_terms(actor, data: dict) -> dict:
    """The five weighted terms of Eq. 14 for one batch (graphs kept for the gradients)."""
    with torch.no_grad():
        teacher_out = actor.teacher(*net_inputs(data), return_features=True)
    scores, iou_pred, _, terms = actor.net(data, teacher_out)
    original, _ = dimp_loss(actor.objective, actor.loss_weight, scores, iou_pred, data)
    distill = actor.net.distill
    return {'L_original': original, 'SCFD': distill.alpha * terms['scfd'], 'L_fus': distill.alpha * terms['mpsd_fus'],
            'L_p': distill.alpha * terms['mpsd_p'], 'HFRD': distill.beta * terms['hfrd']}


def gradient_norms(terms: dict, params) -> dict:
    norms = {}
    for name, value in terms.items():
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        norms[name] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))
    return norms


def measure(teacher, student, batches, reduction: str, scfd_target_norm: str = 'none') -> dict:
    """Mean over batches of each weighted term's value and gradient share for one reduction."""
    torch.manual_seed(0)
    distill = CMDDistillLoss(distill_channels(student), distill_channels(teacher), reduction=reduction,
                             scfd_target_norm=scfd_target_norm)
    actor = CMDDistillActor(CMDTrainingNet(copy.deepcopy(student), distill), teacher)
    actor.train(True)
    params = [p for p in actor.net.student.parameters() if p.requires_grad]
    values, shares = {t: 0.0 for t in TERMS}, {t: 0.0 for t in TERMS}
    for data in batches:
        terms = weighted_terms(actor, data)
        norms = gradient_norms(terms, params)
        total = sum(norms.values())
        for name in TERMS:
            values[name] += terms[name].item() / len(batches)
            shares[name] += 100 * norms[name] / total / len(batches)
    return {'values': values, 'gradient_share_percent': shares}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--teacher', required=True, help='trained cmd_teacher checkpoint (file or folder)')
    parser.add_argument('--student', default=None, help='student checkpoint (default: a fresh cmd_student)')
    parser.add_argument('--crop', type=int, default=288)
    parser.add_argument('--batches', type=int, default=4)
    parser.add_argument('--reduction', nargs='+', default=list(REDUCTIONS), choices=REDUCTIONS)
    parser.add_argument('--scfd-target-norm', default='none', choices=TARGET_NORMS)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    teacher, _ = load_network(args.teacher, expected_kind=('cmd_teacher',), role='teacher')
    torch.manual_seed(args.seed)
    student = load_network(args.student)[0] if args.student else cmd_student(backbone_pretrained=False)
    batches = training_batches(args.crop, args.batches, args.seed)
    results = {reduction: measure(teacher, student, batches, reduction, args.scfd_target_norm)
               for reduction in args.reduction}
    print(f"{args.batches} batches of 2 at {args.crop} px; student: {args.student or 'fresh cmd_student'}; "
          f"SCFD targets: {args.scfd_target_norm}")
    print('| reduction | ' + ' | '.join(f"{t} value / grad %" for t in TERMS) + ' |')
    print('|---' * (len(TERMS) + 1) + '|')
    for reduction, result in results.items():
        cells = [f"{result['values'][t]:.4g} / {result['gradient_share_percent'][t]:.1f}" for t in TERMS]
        print(f"| {reduction} | " + ' | '.join(cells) + ' |')
    if args.json:
        atomic_write_text(args.json, json.dumps({'crop': args.crop, 'batches': args.batches, 'teacher': args.teacher,
                                                 'scfd_target_norm': args.scfd_target_norm,
                                                 'student': args.student, 'results': results}, indent=1))
    return results


if __name__ == '__main__':
    main()
