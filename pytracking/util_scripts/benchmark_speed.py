"""Speed of the CMD trackers (the paper's Table 5 columns): parameters, GFLOPs per tracked frame,
tracking FPS (after initialisation, including frame decoding, IoU-Net refinement and online
updates), initialisation time, peak memory, and training iterations per second; and where a
tracked frame's time goes, per backend (`ms_per_frame`: decode, crop, features, refine, update,
other, total; median milliseconds over the tracked frames of all repeats, from a sequential run
with the tracker's methods timed from outside, see `part_milliseconds`).

    python pytracking/util_scripts/benchmark_speed.py --nets cmd_teacher cmd_student cmd_student_origin \
        --device cpu --frames 30 --repeats 3 --json speed.json [--checkpoint cmd_student=PATH]
        [--backends torch torch-bf16 onnxruntime onnxruntime-int8 openvino openvino-bf16] [--sample-size 288]
        [--threads N]

torch (and ONNX Runtime / OpenVINO) run with `--threads` threads (default: OMP_NUM_THREADS, else the
CPUs this process may use), recorded in the JSON with the CPU model: absolute speeds compare only
within one run; compare backends as ratios.

`--backends` measures tracking FPS and initialisation per backend and precision, each a column of
the table: `torch`, `torch-bf16` (the `amp_dtype` autocast), and the exported features graph run by
`onnxruntime` or `openvino` (CPU), as float32, `-bf16` (OpenVINO's precision hint) or
`onnxruntime-int8` (static int8, calibrated on 16 patches of the benchmark's own frames), and
`tensorrt` (its fp16 engine, --device cuda). GFLOPs, memory and training
speed are measured once, on the PyTorch path.

Random weights unless a checkpoint is given; with random weights the not-found threshold is
disabled, so that every frame pays for refinement and updates. A synthetic sequence of 640x480 JPEG
frame pairs. Each net is measured in its own process (host peak memory is then per net).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from ltr.admin.atomic import atomic_write_text  # noqa: E402
from ltr.admin.loading import save_network  # noqa: E402
from ltr.admin.threads import cpu_model, use_threads  # noqa: E402
from ltr.data.image_loader import imread_rgb, imwrite_rgb  # noqa: E402
from pytracking.evaluation.data import Sequence  # noqa: E402
from pytracking.evaluation.tracker import Tracker  # noqa: E402
from pytracking.libs import onnx_export as ox  # noqa: E402
from pytracking.libs import onnx_graphs as og  # noqa: E402
from pytracking.tracker.rgbt_dimp.compute import ComputeChoice  # noqa: E402
from ltr.admin.model_constructor import registered_builders  # noqa: E402
from rgbt import nets  # noqa: E402
from rgbt.synthetic import SequenceSpec, render_sequence  # noqa: E402
from ltr.actors import CMDDistillActor, CMDTrainingNet, RGBTDiMPActor  # noqa: E402
from rgbt.distill import CMDDistillLoss  # noqa: E402
from ltr.data.random_batch import random_training_batch  # noqa: E402

# backend name -> tracker parameters (the exported-graph folder is added per net)
BACKENDS = {
    'torch': {}, 'torch-bf16': {'amp_dtype': 'bfloat16'},
    'onnxruntime': {'backend': 'onnxruntime'}, 'onnxruntime-int8': {'backend': 'onnxruntime', 'onnx_int8': True},
    'openvino': {'backend': 'openvino'}, 'openvino-bf16': {'backend': 'openvino', 'amp_dtype': 'bfloat16'},
    'tensorrt': {'backend': 'tensorrt'},
}
CPU_ONLY = {'onnxruntime', 'onnxruntime-int8', 'openvino', 'openvino-bf16'}
CUDA_ONLY = {'tensorrt'}
TRACKER_OF = {'cmd_teacher': 'cmd_teacher', 'cmd_student': 'cmd_student', 'cmd_student_origin': 'cmd_student'}


def write_sequence(folder: Path, frames: int) -> Sequence:
    rgb, tir, gt, _, _ = render_sequence(np.random.default_rng(0), SequenceSpec(frames, 640, 480))
    pairs = []
    for index, (a, b) in enumerate(zip(rgb, tir)):
        pair = (str(folder / f"{index:05d}v.jpg"), str(folder / f"{index:05d}i.jpg"))
        imwrite_rgb(pair[0], a)
        imwrite_rgb(pair[1], b)
        pairs.append(pair)
    return Sequence('speed', pairs, 'synthetic', np.round(gt))


def _counted_call(function, *args, **kwargs):
    """(GFLOPs, result) of one call; counters nest, an enclosing one counts these FLOPs too."""
    counter = FlopCounterMode(display=False)
    with counter:
        result = function(*args, **kwargs)
    return counter.get_total_flops() / 1e9, result


def _gflops(function, *args) -> float:
    return _counted_call(function, *args)[0]


def gflops_per_frame(tracker_obj, image) -> dict:
    """GFLOPs of one track() call and of its parts: backbone(s), fusion and classifier (features +
    filter) measured on the same crop size, IoU-Net refinement (IoU features, forward and backward
    passes on 10 boxes) and the online update counted inside that call; 'other' is the rest."""
    net = tracker_obj.net
    size = [1, 3] + [int(v) for v in tracker_obj.img_sample_sz]
    rgb, tir = torch.randn(size, device=tracker_obj.device), torch.randn(size, device=tracker_obj.device)
    with torch.no_grad():
        backbone = _gflops(net.extract_backbone_features, rgb, tir)
        rgb_feats, tir_feats = net.extract_backbone_features(rgb, tir)
        fusion = _gflops(net.fuse_features, rgb_feats, tir_feats)
        fused = net.fuse_features(rgb_feats, tir_feats)
        classification = lambda: net.classifier.classify(  # noqa: E731
            tracker_obj.target_filter, net.extract_classification_feat(fused).unsqueeze(1))
        classifier = _gflops(classification)
    inside = {'iou_net': 0.0, 'update': 0.0}

    def counted(part, method):
        def call(*args, **kwargs):
            gflops, result = _counted_call(method, *args, **kwargs)
            inside[part] += gflops
            return result
        return call

    tracker_obj.refine_target_box = counted('iou_net', tracker_obj.refine_target_box)
    tracker_obj.update_classifier = counted('update', tracker_obj.update_classifier)
    total = _gflops(tracker_obj.track, image)
    other = total - backbone - fusion - classifier - inside['iou_net'] - inside['update']
    return {'backbone': backbone, 'fusion': fusion, 'classifier': classifier, **inside, 'other': other,
            'total': total}


def tracking_run(tracker: Tracker, sequence: Sequence, device: str, random_weights: bool, backend_params: dict):
    params = tracker.get_parameters()
    params.use_gpu = device.startswith('cuda')
    params.update(**backend_params)
    if random_weights:
        # Untrained score maps rarely pass the not-found threshold, which would skip refinement and
        # updates: always localise, so every frame pays for the whole per-frame path.
        params.target_not_found_threshold = float('-inf')
    start = time.perf_counter()
    output = tracker.run_sequence(sequence, params=params)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    init = output['time'][0]
    return (len(sequence.frames) - 1) / (wall - init), init, params


PARTS = ('decode', 'crop', 'features', 'refine', 'update')
# part -> the tracker method whose calls it times
PART_METHODS = {'crop': 'get_samples', 'features': 'extract_features', 'refine': 'refine_target_box',
                'update': 'update_classifier'}


def part_milliseconds(tracker: Tracker, sequence: Sequence, params) -> Dict[str, List[float]]:
    """Milliseconds of each part of each tracked frame (initialisation excluded), on a sequential run
    (no decoding ahead): `decode` (both JPEGs), `crop` (the two patches), `features` (backbone, fusion,
    classification and IoU features, by the backend), `refine` (IoU-Net), `update` (memory and filter
    optimisation), `other` (classification scores, localisation, bookkeeping) and `total`. The
    tracker's methods are wrapped from outside; on a GPU each part synchronises, so the parts add up."""
    sync = torch.cuda.synchronize if ComputeChoice.from_params(params).device == 'cuda' else (lambda: None)
    tracker_obj = tracker.create_tracker(params)
    spent = dict.fromkeys(PARTS, 0.0)

    def timed(part, method):
        def call(*args, **kwargs):
            sync()
            start = time.perf_counter()
            result = method(*args, **kwargs)
            sync()
            spent[part] += time.perf_counter() - start
            return result
        return call

    for part, method in PART_METHODS.items():
        setattr(tracker_obj, method, timed(part, getattr(tracker_obj, method)))
    tracker_obj.initialize(tuple(imread_rgb(p) for p in sequence.frames[0]), sequence.init_info())
    frames = {part: [] for part in PARTS + ('other', 'total')}
    for pair in sequence.frames[1:]:
        spent.update(dict.fromkeys(PARTS, 0.0))
        sync()
        start = time.perf_counter()
        image = tuple(imread_rgb(path) for path in pair)
        spent['decode'] = time.perf_counter() - start
        tracker_obj.track(image)
        sync()
        total = time.perf_counter() - start
        for part in PARTS:
            frames[part].append(1000 * spent[part])
        frames['other'].append(1000 * (total - sum(spent.values())))
        frames['total'].append(1000 * total)
    return frames


def train_iterations_per_second(name: str, device: str, iterations: int = 3) -> float:
    """Iterations/s of the actor that trains this net (distillation for the student)."""
    cuda = device.startswith('cuda')
    crop, batch_size = (288, 26 if name != 'cmd_teacher' else 10) if cuda else (128, 2)
    net = build(name).to(device)
    if name == 'cmd_student':
        teacher = build('cmd_teacher')
        distill = CMDDistillLoss(nets.distill_channels(net), nets.distill_channels(teacher))
        actor = CMDDistillActor(CMDTrainingNet(net, distill), teacher)
    else:
        actor = RGBTDiMPActor(net)
    actor.to(device)
    actor.train(True)
    optimizer = torch.optim.Adam(actor.net.parameters(), lr=1e-5)
    data = {k: v.to(device) for k, v in random_training_batch(frames=3, sequences=batch_size, crop=crop).items()}
    times = []
    for index in range(iterations + 1):
        start = time.perf_counter()
        loss, _ = actor(data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        if index:
            times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def build(name: str):
    """A registered network builder by name, with random weights."""
    return registered_builders()[name](backbone_pretrained=False)


def measure_net(name: str, sequence: Sequence, folder: Path, args, checkpoint: str = None) -> dict:
    """The Table 5 figures of one net; host peak memory is this process's (see --no-isolate)."""
    torch.manual_seed(0)
    path = checkpoint or str(folder / f"{name}.pth.tar")
    if checkpoint is None:
        save_network(build(name), path)
    tracker = Tracker(TRACKER_OF[name], 'default', net_path=path)
    if args.device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    by_backend = {}
    for backend in args.backends:
        backend_params = prepare_backend(tracker, sequence, folder / f"{name}_onnx", backend, args.sample_size)
        runs = [tracking_run(tracker, sequence, args.device, checkpoint is None, backend_params)
                for _ in range(args.repeats)]
        parts = [part_milliseconds(tracker, sequence, runs[0][2]) for _ in range(args.repeats)]
        by_backend[backend] = {'fps': statistics.median(r[0] for r in runs), 'fps_runs': [r[0] for r in runs],
                               'init_s': statistics.median(r[1] for r in runs),
                               'ms_per_frame': {part: statistics.median(ms for run in parts for ms in run[part])
                                                for part in parts[0]}}
    params = tracker.get_parameters()
    params.update(use_gpu=args.device.startswith('cuda'), image_sample_size=args.sample_size)
    if checkpoint is None:
        params.target_not_found_threshold = float('-inf')
    tracker_obj = tracker.create_tracker(params)          # FLOPs are counted on the PyTorch modules
    tracker_obj.initialize(tuple(imread_rgb(p) for p in sequence.frames[0]), sequence.init_info())
    flops = gflops_per_frame(tracker_obj, tuple(imread_rgb(p) for p in sequence.frames[1]))
    net = tracker.get_parameters().net.load('cpu')        # as stored: the tracker folds BatchNorm into convs
    first = by_backend[args.backends[0]]
    entry = {'params_m': sum(p.numel() for p in net.parameters()) / 1e6, 'gflops': flops['total'],
             'gflops_parts': flops, 'fps': first['fps'], 'fps_runs': first['fps_runs'], 'init_s': first['init_s'],
             'backends': by_backend, 'peak_mem_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.device.startswith('cuda'):
        entry['peak_gpu_mem_mb'] = torch.cuda.max_memory_allocated() / 2 ** 20
    if not args.no_train:
        entry['train_it_s'] = train_iterations_per_second(name, args.device)
    return entry


def prepare_backend(tracker: Tracker, sequence: Sequence, onnx_dir: Path, backend: str, sample_size: int) -> dict:
    """Tracker parameters of one entry of BACKENDS; for the exported-graph backends the graphs are
    exported (and, for int8, quantised with 16 patches of the sequence's frames) once, before timing."""
    overrides = dict({'image_sample_size': sample_size, 'amp_dtype': None, 'backend': 'torch', 'onnx_int8': False},
                     **BACKENDS[backend])
    if overrides['backend'] == 'torch':
        return overrides
    network = tracker.get_parameters().net
    if not (onnx_dir / og.METADATA_FILE).is_file():
        ox.export_onnx(network.load('cpu'), onnx_dir, sample_size, source=network.resolve())
    if overrides['onnx_int8'] and not (onnx_dir / og.FEATURES_INT8_FILE).is_file():
        ox.quantize_features(onnx_dir, ox.calibration_patches([sequence], sample_size, 16))
    if overrides['backend'] == 'tensorrt' and not (onnx_dir / og.TENSORRT_FILE).is_file():
        ox.build_tensorrt_engine(onnx_dir)
    return dict(overrides, onnx_dir=str(onnx_dir))


def measure_in_subprocess(name: str, args, folder: Path) -> dict:
    """One net in a fresh interpreter, so that its host peak memory is its own."""
    out = folder / f"{name}.json"
    command = [sys.executable, os.path.abspath(__file__), '--nets', name, '--device', args.device,
               '--frames', str(args.frames), '--repeats', str(args.repeats), '--json', str(out), '--no-isolate']
    command += [f"--checkpoint={c}" for c in args.checkpoint] + (['--no-train'] if args.no_train else [])
    command += ['--sample-size', str(args.sample_size), '--backends', *args.backends, '--threads', str(args.threads)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())['nets'][name]


def print_parts(results: dict) -> None:
    """Where a tracked frame's time goes: one row per net and backend, median ms per part."""
    columns = PARTS + ('other', 'total')
    print(f"\n{'net / backend':36s}" + ''.join(f" {c:>8s}" for c in columns) + f" {'FPS':>6s}")
    for name, entry in results['nets'].items():
        for backend, measured in entry.get('backends', {}).items():
            parts = measured.get('ms_per_frame')
            if parts:
                print(f"{name + ' / ' + backend:36s}" + ''.join(f" {parts[c]:8.1f}" for c in columns)
                      + f" {measured['fps']:6.2f}")


def print_table(results: dict) -> None:
    backends = list(next(iter(results['nets'].values())).get('backends', {'torch': None}))
    columns = ''.join(f" {'FPS ' + b:>22s}" for b in backends)
    print(f"\n{'net':20s} {'params (M)':>10s} {'GFLOPs':>8s}{columns} {'init (s)':>9s} {'peak MB':>8s} {'train it/s':>10s}")
    for name, e in results['nets'].items():
        fps = ''.join(f" {e.get('backends', {}).get(b, e)['fps']:22.2f}" for b in backends)
        print(f"{name:20s} {e['params_m']:10.2f} {e['gflops']:8.2f}{fps} {e['init_s']:9.2f} "
              f"{e.get('peak_gpu_mem_mb', e['peak_mem_mb']):8.0f} {e.get('train_it_s', float('nan')):10.3f}")
    nets = results['nets']
    if 'cmd_teacher' in nets:
        for student in ('cmd_student', 'cmd_student_origin'):
            if student in nets:
                print(f"{student} / cmd_teacher FPS: {nets[student]['fps'] / nets['cmd_teacher']['fps']:.2f}x")
    print_parts(results)
    print(f"device: {results['device']}, torch {results['torch']}, "
          f"{results.get('sample_size', 288)}x{results.get('sample_size', 288)} crops, {results['date']}"
          f" (peak MB: {'GPU' if results['device_type'] == 'cuda' else 'host'})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--nets', nargs='+', default=['cmd_teacher', 'cmd_student', 'cmd_student_origin'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--checkpoint', action='append', default=[], metavar='NAME=PATH')
    parser.add_argument('--no-train', action='store_true', help='skip the training iteration timing')
    parser.add_argument('--no-isolate', action='store_true',
                        help='measure all nets in this process (host peak memory is then cumulative)')
    parser.add_argument('--json', default=None)
    parser.add_argument('--backends', nargs='+', default=['torch'], choices=sorted(BACKENDS),
                        help='tracking backends and precisions, one FPS column each (default: torch)')
    parser.add_argument('--sample-size', type=int, default=288, help='tracker crop size (the paper: 288)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: OMP_NUM_THREADS, else the CPUs this process may use)')
    args = parser.parse_args()
    args.threads = use_threads(args.threads)
    on_cuda = args.device.startswith('cuda')
    wrong = sorted(set(args.backends) & (CPU_ONLY if on_cuda else CUDA_ONLY))
    if wrong:
        parser.error(f"{', '.join(wrong)} run{'s' if len(wrong) == 1 else ''} on the {'CPU' if on_cuda else 'GPU'}: "
                     f"use --device {'cpu' if on_cuda else 'cuda'}")
    checkpoints = dict(c.split('=', 1) for c in args.checkpoint)
    device_name = torch.cuda.get_device_name(0) if args.device.startswith('cuda') else \
        f"{cpu_model()}, {args.threads} threads"
    results = {'device': device_name, 'device_type': torch.device(args.device).type, 'torch': torch.__version__,
               'cpu': cpu_model(), 'threads': args.threads,
               'date': time.strftime('%Y-%m-%d'), 'backends': args.backends,
               'sample_size': args.sample_size, 'nets': {}}
    with tempfile.TemporaryDirectory() as tmp:
        isolate = not args.no_isolate and len(args.nets) > 1
        sequence = None if isolate else write_sequence(Path(tmp), args.frames + 1)
        for name in args.nets:
            if isolate:
                entry = measure_in_subprocess(name, args, Path(tmp))
            else:
                entry = measure_net(name, sequence, Path(tmp), args, checkpoints.get(name))
            results['nets'][name] = entry
            print(f"{name}: {entry}", flush=True)
    print_table(results)
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
