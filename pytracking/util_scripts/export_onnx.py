"""Export a tracker's per-frame networks to ONNX (and optionally an int8 features graph).

    python pytracking/util_scripts/export_onnx.py cmd_student --net PATH --out DIR
        [--param default] [--sample-size S] [--int8 [--calibration DIR] [--calibration-batches 32]]
        [--tensorrt]

Writes DIR/features.onnx, DIR/iou_predictor.onnx and DIR/onnx.json (see
pytracking/libs/onnx_graphs.py), checks them with onnx.checker, and compares ONNX
Runtime's outputs with PyTorch's on random patches (maximum absolute difference printed; the
export fails above --tolerance). `--int8` also writes features_int8.onnx, statically quantised
with patches of the synthetic training split (`--calibration`, default the synthetic benchmark of
the tracking settings). Track with the graphs: `run_tracker.py ... --backend onnxruntime
[--int8]`, or the tracker parameters `backend='onnxruntime', onnx_dir=DIR`. `--tensorrt` (a CUDA
machine with the `tensorrt` package) also builds DIR/features_fp16.engine from features.onnx
(`--backend tensorrt`).
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ltr.admin.loading import CheckpointError  # noqa: E402
from pytracking.evaluation.tracker import Tracker  # noqa: E402
from pytracking.libs import onnx_export as ox  # noqa: E402
from pytracking.libs import onnx_graphs as og  # noqa: E402
from pytracking.tracker.rgbt_dimp.compute import OrtRunner  # noqa: E402
from pytracking.tracker.rgbt_dimp.defaults import tracking_sample_size  # noqa: E402
from pytracking.evaluation.environment import env_settings  # noqa: E402
from pytracking.evaluation.data import Sequence  # noqa: E402
from rgbt.benchmarks import Synthetic  # noqa: E402
from ltr.admin.limits import bound  # noqa: E402

TOLERANCE = 1e-3      # absolute, on features of magnitude ~1-10 (float32 kernels differ in summation order)


def parity(net, out_dir: Path, sample_size: int, int8: bool = False) -> dict:
    """Max absolute difference between ONNX Runtime and PyTorch per output, on 2 random patch pairs
    (and on the IoU predictor's inputs derived from them)."""
    (rgb, tir), iou_inputs = ox.example_inputs(net.eval(), sample_size, batch=2, seed=1)
    reference = ox.features_as_torch(net, rgb, tir)
    outputs = run_features(out_dir, rgb, tir, int8)
    report = {name: float((outputs[name] - ref).abs().max()) for name, ref in zip(og.FEATURE_OUTPUTS, reference)}
    session = OrtRunner(out_dir / og.IOU_FILE).session
    ious = session.run(None, {name: value.numpy() for name, value in zip(og.IOU_INPUTS, iou_inputs)})[0]
    with torch.no_grad():
        expected = ox.IoUPredictor(net.bb_regressor)(*iou_inputs).numpy()
    report['iou'] = float(np.abs(ious - expected).max())
    return report


def run_features(out_dir: Path, rgb: torch.Tensor, tir: torch.Tensor, int8: bool = False) -> dict:
    """The features graph (or its int8 version) of `out_dir` run once by ONNX Runtime: outputs by name."""
    graph = Path(out_dir) / (og.FEATURES_INT8_FILE if int8 else og.FEATURES_FILE)
    return dict(zip(og.FEATURE_OUTPUTS, OrtRunner(graph)(rgb, tir)))


def int8_relative_errors(out_dir: Path, patches) -> dict:
    """||int8 - float32|| / ||float32|| per output of features.onnx on (rgb, tir) patches."""
    rgb, tir = (torch.from_numpy(p) for p in patches)
    full, int8 = run_features(out_dir, rgb, tir), run_features(out_dir, rgb, tir, int8=True)
    return {name: float((int8[name] - full[name]).norm() / full[name].norm()) for name in og.FEATURE_OUTPUTS}


def calibration_sequences(root):
    root = root or env_settings().synthetic_path
    benchmark = Synthetic(root, 'train')
    return [Sequence.from_benchmark(s) for s in benchmark.sequences(require_frames=True)]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def sample_size_argument(text: str) -> int:
    """--sample-size: a positive multiple of the backbone's stride 16 within the crop-size bound."""
    value = int(text) if text.lstrip('-').isdigit() else positive_int(text)
    if value < 16 or value % 16 or value > bound('output_sz'):
        raise argparse.ArgumentTypeError(f"{value}: the sample size must be a multiple of 16 from 16 to "
                                         f"{bound('output_sz')} (the backbone's stride; DiMP samples 288)")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('tracker_name', help='cmd_student or cmd_teacher (Student-Origin: cmd_student with its --net)')
    parser.add_argument('--param', default='default', help='tracker parameter file')
    parser.add_argument('--net', default=None, help='network file or training checkpoint folder')
    parser.add_argument('--out', required=True, type=Path)
    parser.add_argument('--sample-size', type=sample_size_argument, default=None,
                        help="default: the parameters' image_sample_size, else the training crop size, else 288")
    parser.add_argument('--int8', action='store_true', help='also write the statically quantised features_int8.onnx')
    parser.add_argument('--calibration', default=None, help='synthetic benchmark root for the int8 calibration')
    parser.add_argument('--calibration-batches', type=positive_int, default=32)
    parser.add_argument('--tolerance', type=float, default=TOLERANCE)
    parser.add_argument('--tensorrt', action='store_true', help='also build a TensorRT fp16 engine (CUDA only)')
    args = parser.parse_args(argv)
    try:
        params = Tracker(args.tracker_name, args.param, net_path=args.net).get_parameters()
        network_file = params.net.resolve()
        net = params.net.load('cpu')
    except (FileNotFoundError, CheckpointError) as err:
        raise SystemExit(f"export_onnx.py: {err}") from None
    sample_size = args.sample_size or tracking_sample_size(params)
    metadata = ox.export_onnx(net, args.out, sample_size, source=network_file,
                              network_kind=type(net).__name__)
    report = parity(net, args.out, sample_size)
    print(f"exported {network_file} at {sample_size}x{sample_size} to {args.out}")
    print("ONNX Runtime vs PyTorch, max |difference|: " + ', '.join(f"{k} {v:.2e}" for k, v in report.items()))
    if max(report.values()) > args.tolerance:
        raise SystemExit(f"export_onnx.py: ONNX Runtime differs from PyTorch by more than {args.tolerance}")
    if args.int8:
        sequences = calibration_sequences(args.calibration)
        calibration = ox.calibration_patches(sequences, sample_size, args.calibration_batches)
        target = ox.quantize_features(args.out, calibration)
        held_out = ox.calibration_patches(sequences, sample_size, 1, batch=4, seed=1)[0]
        errors = int8_relative_errors(args.out, held_out)
        print(f"int8 features: {target} ({len(calibration)} calibration patches); relative error to float32 on "
              f"4 other patches of the same frames: " + ', '.join(f"{k} {v:.3f}" for k, v in errors.items()))
    if args.tensorrt:
        if not torch.cuda.is_available():
            raise SystemExit('export_onnx.py --tensorrt needs a CUDA GPU (and `pip install tensorrt`)')
        engine = ox.build_tensorrt_engine(args.out)
        print(f"TensorRT fp16 engine: {engine}")
    return metadata


if __name__ == '__main__':
    main()
