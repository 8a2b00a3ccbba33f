"""Tools that write a tracker's exported graphs (format: pytracking/libs/onnx_graphs.py): ONNX export,
int8 calibration and quantisation for ONNX Runtime, and TensorRT engine building. The tracker never
imports them: it opens the graphs and checks they belong to its network
(pytracking/tracker/rgbt_dimp/compute.py). `pytracking/util_scripts/export_onnx.py` is their command;
the evaluation's Tracker calls `ensure_graphs` before it tracks with an exported-graph backend.

int8 (`quantize_features`): static quantisation of `features.onnx` with ONNX Runtime (QDQ format,
per-channel symmetric int8 weights, uint8 activations calibrated with MinMax on frame pairs of
the synthetic training split); the result is `features_int8.onnx`.
"""
import copy
import json
import math
import os
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ltr.admin.atomic import atomic_write, atomic_write_text
from ltr.admin.loading import file_sha256
from ltr.data.image_loader import imread_rgb
from ltr.models.backbone.resnet import IMAGENET_MEAN, IMAGENET_STD
from ltr.models.layers.blocks import fold_batch_norm
from pytracking.evaluation.environment import env_settings
from pytracking.features.preprocessing import numpy_to_torch, sample_patch
from pytracking.libs import onnx_graphs as og
from pytracking.libs.onnx_graphs import (FEATURE_INPUTS, FEATURE_OUTPUTS, FEATURES_FILE, FEATURES_INT8_FILE,
                                         IOU_FILE, IOU_INPUTS, IOU_OUTPUTS, METADATA_FILE, OPSET, REFINE_FILE,
                                         REFINE_INPUTS, REFINE_OUTPUTS, TENSORRT_FILE)
from pytracking.tracker.rgbt_dimp.defaults import DEFAULTS
from pytracking.tracker.rgbt_dimp.defaults import tracking_sample_size
from pytracking.tracker.rgbt_dimp.refinement import BoxRefinement


class FrameFeatures(nn.Module):
    """The per-frame feature path of an RGBTDiMPnet as one module (what `features.onnx` holds)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, rgb: torch.Tensor, tir: torch.Tensor):
        fused = self.net.extract_features((rgb - self.mean) / self.std, (tir - self.mean) / self.std)
        classification = self.net.extract_classification_feat(fused)
        iou3, iou4 = self.net.bb_regressor.get_iou_feat(self.net.get_backbone_bbreg_feat(fused))
        return fused['layer2'], fused['layer3'], classification, iou3, iou4


class IoUPredictor(nn.Module):
    """IoU-Net's prediction for boxes given the target's modulation vectors (`iou_predictor.onnx`)."""

    def __init__(self, bb_regressor: nn.Module):
        super().__init__()
        self.bb_regressor = bb_regressor

    def forward(self, modulation3, modulation4, iou_feat3, iou_feat4, boxes):
        modulated = self.bb_regressor.modulate((modulation3, modulation4), (iou_feat3, iou_feat4))
        return self.bb_regressor.predict_iou_modulated(modulated, boxes)


def example_inputs(net: nn.Module, sample_size: int, batch: int = 1, seed: int = 0):
    """Random patches, and the IoU predictor's inputs computed from them with `net` (float32)."""
    generator = torch.Generator().manual_seed(seed)
    rgb, tir = (torch.rand(batch, 3, sample_size, sample_size, generator=generator) * 255 for _ in range(2))
    with torch.no_grad():
        layer2, layer3, _, iou3, iou4 = FrameFeatures(net)(rgb, tir)
        box = torch.tensor([[sample_size * 0.4, sample_size * 0.4, sample_size * 0.2, sample_size * 0.2]])
        modulation = net.bb_regressor.get_modulation([layer2[:1], layer3[:1]], box)
    boxes = box.view(1, 1, 4) + torch.randn(1, 10, 4, generator=generator) * sample_size * 0.02
    return (rgb, tir), (modulation[0].reshape(1, -1), modulation[1].reshape(1, -1), iou3[:1], iou4[:1], boxes)


def _export(module: nn.Module, inputs, path: Path, input_names, output_names, dynamic_axes) -> None:
    tmp = path.with_name(path.name + '.tmp')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')          # the TorchScript exporter announces its deprecation
        torch.onnx.export(module, tuple(inputs), str(tmp), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    os.replace(tmp, path)


DEFAULT_SCHEDULE = (DEFAULTS['box_refinement_iter'], DEFAULTS['box_refinement_step_length'],
                    DEFAULTS['box_refinement_step_decay'])


def export_onnx(net: nn.Module, out_dir: Path, sample_size: int, source: Optional[Path] = None,
                network_kind: Optional[str] = None, source_sha256: Optional[str] = None,
                refinement: Sequence = DEFAULT_SCHEDULE) -> Dict:
    """Writes features.onnx, iou_predictor.onnx, refine.onnx (with the refinement schedule
    (iterations, step length, decay)) and onnx.json for `net` at `sample_size`; checks the graphs
    with onnx.checker. BatchNorm is folded first (a copy; `net` is unchanged). `source_sha256`: the
    source file's checksum when the caller has it (else it is computed)."""
    import onnx                                   # optional dependency: only exporting needs it
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(net).eval().requires_grad_(False).float().cpu()
    fold_batch_norm(net)
    frame_inputs, iou_inputs = example_inputs(net, sample_size)
    batch = {name: {0: 'batch'} for name in FEATURE_INPUTS + FEATURE_OUTPUTS}
    _export(FrameFeatures(net), frame_inputs, out_dir / FEATURES_FILE, FEATURE_INPUTS, FEATURE_OUTPUTS, batch)
    _export(IoUPredictor(net.bb_regressor), iou_inputs, out_dir / IOU_FILE, IOU_INPUTS, IOU_OUTPUTS,
            {'boxes': {1: 'boxes'}, 'iou': {1: 'boxes'}})
    iterations, step_length, step_decay = refinement
    refine_inputs = iou_inputs[:4] + (iou_inputs[4][0],)                # boxes (K, 4)
    _export(BoxRefinement(net.bb_regressor, iterations, step_length, step_decay), refine_inputs,
            out_dir / REFINE_FILE, REFINE_INPUTS, REFINE_OUTPUTS,
            {'boxes': {0: 'boxes'}, 'refined_boxes': {0: 'boxes'}, 'iou': {0: 'boxes'}})
    for name in (FEATURES_FILE, IOU_FILE, REFINE_FILE):
        onnx.checker.check_model(str(out_dir / name))
    metadata = {
        'sample_size': sample_size, 'opset': OPSET,
        'normalisation': {'inside_graph': True, 'input_range': [0, 255], 'mean': list(IMAGENET_MEAN),
                          'std': list(IMAGENET_STD)},
        'features': {'file': FEATURES_FILE, 'sha256': file_sha256(out_dir / FEATURES_FILE),
                     'inputs': list(FEATURE_INPUTS), 'outputs': list(FEATURE_OUTPUTS),
                     'input_shape': ['batch', 3, sample_size, sample_size]},
        'iou_predictor': {'file': IOU_FILE, 'sha256': file_sha256(out_dir / IOU_FILE),
                          'inputs': list(IOU_INPUTS), 'outputs': list(IOU_OUTPUTS),
                          'boxes': 'xywh in patch pixels, (1, K, 4)'},
        'refine': {'file': REFINE_FILE, 'sha256': file_sha256(out_dir / REFINE_FILE),
                   'inputs': list(REFINE_INPUTS), 'outputs': list(REFINE_OUTPUTS),
                   'boxes': 'xywh in patch pixels, (K, 4)', 'iterations': int(iterations),
                   'step_length': float(step_length), 'step_decay': float(step_decay)},
        'int8': None,
        'tensorrt': None,
        'source': {'path': str(source) if source else None, 'sha256': source_sha256 or _sha256_if_file(source),
                   'kind': network_kind},
    }
    atomic_write_text(out_dir / METADATA_FILE, json.dumps(metadata, indent=1))
    return metadata


def _sha256_if_file(path: Optional[Path]) -> Optional[str]:
    return file_sha256(Path(path)) if path and Path(path).is_file() else None


def _record(out_dir: Path, entry: str, record: Dict) -> None:
    metadata = og.read_metadata(out_dir)
    metadata[entry] = record
    atomic_write_text(Path(out_dir) / METADATA_FILE, json.dumps(metadata, indent=1))


class CalibrationPairs:
    """ONNX Runtime's CalibrationDataReader protocol over (rgb, tir) patch batches (numpy, 0..255)."""

    def __init__(self, pairs: Iterable):
        self._pairs = iter(pairs)

    def get_next(self):
        pair = next(self._pairs, None)
        return None if pair is None else {'rgb': pair[0], 'tir': pair[1]}


def quantize_features(out_dir: Path, calibration: Sequence, per_channel: bool = True) -> Path:
    """Static int8 quantisation of features.onnx (QDQ, int8 weights per channel, uint8 activations,
    MinMax calibration on `calibration`, a list of (rgb, tir) float32 arrays (N, 3, S, S) in 0..255).
    Writes features_int8.onnx and records it in onnx.json."""
    # optional: only the int8 export needs ONNX Runtime's quantisation tools
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    out_dir = Path(out_dir)
    og.read_metadata(out_dir)                                  # an export must be there
    prepared = out_dir / 'features_prepared.onnx'
    quant_pre_process(str(out_dir / FEATURES_FILE), str(prepared), skip_symbolic_shape=True)
    target = out_dir / FEATURES_INT8_FILE
    tmp = target.with_name(target.name + '.tmp')
    quantize_static(str(prepared), str(tmp), CalibrationPairs(calibration), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    os.replace(tmp, target)
    prepared.unlink()
    _record(out_dir, 'int8', {'file': FEATURES_INT8_FILE, 'sha256': file_sha256(target),
                              'calibration_batches': len(calibration), 'format': 'QDQ',
                              'weights': 'int8 per channel' if per_channel else 'int8 per tensor',
                              'activations': 'uint8, MinMax'})
    return target


def calibration_patches(sequences: Sequence, sample_size: int, count: int, batch: int = 1,
                        search_area_scale: float = 5.0, seed: int = 0) -> List:
    """`count` (rgb, tir) patch batches for int8 calibration: frames drawn (seeded) from `sequences`
    (pytracking Sequences with frames), cropped around their ground truth as the tracker crops
    (search area `search_area_scale` times the target), resized to `sample_size`."""
    rng = np.random.default_rng(seed)
    size = torch.tensor([float(sample_size)] * 2)
    patches = []
    for _ in range(count * batch):
        sequence = sequences[int(rng.integers(len(sequences)))]
        index = int(rng.integers(len(sequence.frames)))
        x, y, w, h = [float(v) for v in sequence.ground_truth_rect[index]]
        if not np.isfinite([x, y, w, h]).all() or w <= 0 or h <= 0:
            continue
        pos = torch.tensor([y + (h - 1) / 2, x + (w - 1) / 2])
        crop = math.sqrt(w * h) * search_area_scale
        pair = [sample_patch(numpy_to_torch(imread_rgb(path)), pos, torch.tensor([crop, crop]), size)[0]
                for path in sequence.frames[index]]
        patches.append([p.numpy().astype(np.float32) for p in pair])
    return [(np.concatenate([p[0] for p in patches[i:i + batch]]), np.concatenate([p[1] for p in patches[i:i + batch]]))
            for i in range(0, len(patches) - batch + 1, batch)]


def build_tensorrt_engine(out_dir: Path, fp16: bool = True, max_batch: int = 16) -> Path:
    """A TensorRT engine (TensorRT 10 Python API) built from the folder's features.onnx, its batch axis
    profiled 1..max_batch (the 13 first-frame samples fit), fp16 kernels allowed; written as
    features_fp16.engine and recorded in onnx.json. CUDA only: run on a lent GPU by device_check.sh."""
    import tensorrt as trt                         # optional dependency, CUDA machines only
    out_dir = Path(out_dir)
    onnx_path = out_dir / FEATURES_FILE
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)              # explicit batch (TensorRT 10's only mode)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        rest = list(tensor.shape)[1:]
        profile.set_shape(tensor.name, [1, *rest], [1, *rest], [max_batch, *rest])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path}")
    engine_path = out_dir / TENSORRT_FILE
    with atomic_write(engine_path, 'wb') as file:
        file.write(bytes(serialized))
    _record(out_dir, 'tensorrt', {'file': TENSORRT_FILE, 'sha256': file_sha256(engine_path),
                                  'built_from': file_sha256(onnx_path), 'precision': 'fp16' if fp16 else 'fp32',
                                  'max_batch': max_batch, 'tensorrt': trt.__version__})
    return engine_path


def features_as_torch(net: nn.Module, rgb: torch.Tensor, tir: torch.Tensor) -> List[torch.Tensor]:
    """The PyTorch reference for features.onnx's outputs (folded copy, float32)."""
    with torch.no_grad():
        return list(FrameFeatures(net)(rgb, tir))


def ensure_graphs(params, choice) -> Optional[Path]:
    """Exports the graphs a backend `choice` (compute.ComputeChoice) runs into the tracker's default
    folder when it has none, or replaces them there when they are stale or damaged (our own cache: an
    old export is replaced, never used); a TensorRT engine is built there too. A folder the user
    named (`onnx_dir`) is never written. Returns the folder, or None for the PyTorch backend."""
    if not choice.exported:
        return None
    network = params.net
    sample_size = tracking_sample_size(params)
    digest = network.sha256()
    default = og.default_export_dir(env_settings().network_path, digest, sample_size)
    folder = Path(params.onnx_dir) if params.onnx_dir else default
    if folder != default:
        return folder
    if _stale(folder, digest, sample_size, 'features'):
        net = network.load('cpu')
        export_onnx(net, folder, sample_size, source=network.resolve(), source_sha256=digest,
                    network_kind=type(net).__name__)
    if choice.graph_entry == 'tensorrt' and _stale(folder, digest, sample_size, 'tensorrt'):
        build_tensorrt_engine(folder)
    return folder


def _stale(folder: Path, digest: str, sample_size: int, entry: str) -> bool:
    if not (folder / METADATA_FILE).is_file():
        return True
    return og.folder_problem(folder, digest, sample_size, entry) is not None
