"""Why does the from-scratch two-stream ResNet50 teacher learn less than the ResNet18 student?
Trains network variants on the same batches and compares their training losses.

    python ltr/util_scripts/teacher_diagnosis.py [--iterations 80] [--last 20] [--variants ...] [--json FILE]

Every variant sees the same sequence of batches (synthetic training split, smoke crops, batch 2),
from the same seed, with Adam and the parameter groups of the CMD settings; the figure of merit is
the mean over the last `--last` iterations of the classifier's test loss (LBHinge of the final
filter, on frames not yet trained on) and of the IoU loss. Variants change one thing at a time:
backbone, number of streams, fusion, learning rates.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from rgbt.nets import build_rgbt_dimpnet  # noqa: E402
from ltr.actors import RGBTDiMPActor  # noqa: E402
from ltr.train_settings.cmd.common import parameter_groups  # noqa: E402
from ltr.train_settings.cmd.config import TrainConfig  # noqa: E402
from ltr.admin.atomic import atomic_write_text  # noqa: E402
from ltr.util_scripts.distill_gradient_shares import training_batches  # noqa: E402
from ltr.train_settings.cmd.config import PROFILES  # noqa: E402

# name: (backbone, two streams, fusion, learning-rate role ('student': DiMP-18's, 'teacher': DiMP-50's));
# 'tf_random': MDC's cross-modal projections randomly initialised (the teacher before the fix).
VARIANTS = {
    'teacher (R50 x2, MDC+FRS)': ('resnet50', True, 'tf_random', 'student'),
    'R50 x2, concat': ('resnet50', True, 'concat', 'student'),
    'R50 x1, concat': ('resnet50', False, 'concat', 'student'),
    'R18 x2, MDC+FRS': ('resnet18', True, 'tf_random', 'student'),
    'R18 x1, concat (Student-Origin)': ('resnet18', False, 'concat', 'student'),
    'teacher, DiMP-50 learning rates': ('resnet50', True, 'tf_random', 'teacher'),
    'teacher, MDC compensation zero-initialised': ('resnet50', True, 'tf', 'student'),
}


def build(backbone: str, two_stream: bool, fusion: str):
    fusion_kwargs = {'zero_init_compensation': False} if fusion == 'tf_random' else {}
    fusion = 'tf' if fusion == 'tf_random' else fusion
    return build_rgbt_dimpnet(backbone, two_stream, fusion, fusion_kwargs=fusion_kwargs)


def run_variant(name: str, batches, seed: int) -> dict:
    backbone, two_stream, fusion, role = VARIANTS[name]
    torch.manual_seed(seed)
    actor = RGBTDiMPActor(build(backbone, two_stream, fusion))
    actor.train(True)
    config = TrainConfig()
    optimizer = torch.optim.Adam(parameter_groups(actor.net, config, role), lr=config.lr_base)
    history, start = [], time.perf_counter()
    for data in batches:
        loss, stats = actor(data)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(stats)
    return {'history': history, 'seconds_per_iteration': (time.perf_counter() - start) / len(batches),
            'parameters_m': sum(p.numel() for p in actor.net.parameters()) / 1e6}


def summarise(result: dict, last: int) -> dict:
    tail = result['history'][-last:]
    mean = lambda key: sum(h[key] for h in tail) / len(tail)  # noqa: E731
    return {'clf_test_loss': mean('ClfTrain/test_loss'), 'iou_loss': mean('Loss/iou'), 'total': mean('Loss/total'),
            'seconds_per_iteration': result['seconds_per_iteration'], 'parameters_m': result['parameters_m']}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iterations', type=int, default=80)
    parser.add_argument('--last', type=int, default=20)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--json', default=None, help='results file (finished variants are reused)')
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    done = json.load(open(args.json)) if args.json and os.path.isfile(args.json) else {}
    batches = training_batches(PROFILES['smoke'].output_sz, args.iterations, args.seed)
    for name in args.variants:
        if name in done:
            continue
        print(f"training {name}: {args.iterations} iterations", flush=True)
        done[name] = summarise(run_variant(name, batches, args.seed), args.last)
        print(f"  {done[name]}", flush=True)
        if args.json:
            atomic_write_text(args.json, json.dumps(done, indent=1))
    print(f"| variant | params (M) | s/it | clf test loss | IoU loss | total (last {args.last} of {args.iterations}) |")
    print('|---|---|---|---|---|---|')
    for name, r in done.items():
        print(f"| {name} | {r['parameters_m']:.2f} | {r['seconds_per_iteration']:.2f} | {r['clf_test_loss']:.4f} | "
              f"{r['iou_loss']:.4f} | {r['total']:.3f} |")


if __name__ == '__main__':
    main()
