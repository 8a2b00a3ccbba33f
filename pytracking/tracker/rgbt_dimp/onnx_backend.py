"""The tracker's per-frame networks as ONNX graphs, and an ONNX Runtime backend that runs them.

Two graphs at the tracker's sample size S (batch dimension dynamic):
- `features.onnx`: a frame pair's patches (N, 3, S, S), RGB and TIR, in 0..255 (ImageNet
  normalisation is inside the graph) -> the fused layer2 and layer3 features, the classification
  features and the two IoU-Net test features. This is the backbone + fusion, i.e. nearly all of a
  frame's compute.
- `iou_predictor.onnx`: the two modulation vectors, the two IoU features and boxes (1, K, 4) xywh in
  patch coordinates -> predicted IoUs (1, K).
`onnx.json` beside them records the sample size, the normalisation, input and output names, the
opset and the source checkpoint (path and SHA-256).

The ONNX Runtime backend (tracker parameter `backend='onnxruntime'`, or `'openvino'` for OpenVINO's
CPU runtime on the same graphs, in bfloat16 with `amp_dtype='bfloat16'`) runs `features.onnx` (or its
int8 version) for every frame and every initial sample; the filter optimisation and the IoU-Net
refinement stay in PyTorch on the CPU: the refinement is gradient ascent on the boxes, which needs
the IoU predictor's gradient, and ONNX Runtime's inference sessions do not differentiate. The IoU
predictor graph is exported for deployments that refine differently (and checked against PyTorch).

int8 (`quantize_features`): static quantisation of `features.onnx` with ONNX Runtime (QDQ format,
per-channel symmetric int8 weights, uint8 activations calibrated with MinMax on frame pairs of
the synthetic training split); the result is `features_int8.onnx`.
"""
import json
import math
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ltr.admin.atomic import atomic_write_text
from ltr.admin.json_files import read_json_object
from ltr.admin.loading import file_sha256
from ltr.models.backbone.resnet import IMAGENET_MEAN, IMAGENET_STD

FEATURE_INPUTS = ('rgb', 'tir')
FEATURE_OUTPUTS = ('layer2', 'layer3', 'classification', 'iou_feat3', 'iou_feat4')
IOU_INPUTS = ('modulation3', 'modulation4', 'iou_feat3', 'iou_feat4', 'boxes')
IOU_OUTPUTS = ('iou',)
OPSET = 17
FEATURES_FILE, FEATURES_INT8_FILE, IOU_FILE, METADATA_FILE = (
    'features.onnx', 'features_int8.onnx', 'iou_predictor.onnx', 'onnx.json')


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
    import warnings
    tmp = path.with_name(path.name + '.tmp')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')          # the TorchScript exporter announces its deprecation
        torch.onnx.export(module, tuple(inputs), str(tmp), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    os.replace(tmp, path)


def export_onnx(net: nn.Module, out_dir: Path, sample_size: int, source: Optional[Path] = None,
                network_kind: Optional[str] = None, source_sha256: Optional[str] = None) -> Dict:
    """Writes features.onnx, iou_predictor.onnx and onnx.json for `net` at `sample_size`; checks both
    graphs with onnx.checker. BatchNorm is folded first (a copy; `net` is unchanged). `source_sha256`:
    the source file's checksum when the caller has it (else it is computed)."""
    import copy

    import onnx
    from ltr.models.layers.blocks import fold_batch_norm
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(net).eval().requires_grad_(False).float().cpu()
    fold_batch_norm(net)
    frame_inputs, iou_inputs = example_inputs(net, sample_size)
    batch = {name: {0: 'batch'} for name in FEATURE_INPUTS + FEATURE_OUTPUTS}
    _export(FrameFeatures(net), frame_inputs, out_dir / FEATURES_FILE, FEATURE_INPUTS, FEATURE_OUTPUTS, batch)
    _export(IoUPredictor(net.bb_regressor), iou_inputs, out_dir / IOU_FILE, IOU_INPUTS, IOU_OUTPUTS,
            {'boxes': {1: 'boxes'}, 'iou': {1: 'boxes'}})
    for name in (FEATURES_FILE, IOU_FILE):
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
        'int8': None,
        'source': {'path': str(source) if source else None,
                   'sha256': source_sha256 or (file_sha256(Path(source)) if source and Path(source).is_file() else None),
                   'kind': network_kind},
    }
    atomic_write_text(out_dir / METADATA_FILE, json.dumps(metadata, indent=1))
    return metadata


def read_metadata(out_dir: Path) -> Dict:
    path = Path(out_dir) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: export the network first with "
                                f"`python pytracking/util_scripts/export_onnx.py <tracker> --net PATH --out {out_dir}`")
    return read_json_object(path)


def session(path: Path, threads: Optional[int] = None):
    """An ONNX Runtime CPU inference session with all graph optimisations."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3
    # ONNX Runtime's threads spin-wait after a run by default, taking the cores from the PyTorch
    # refinement and filter updates that follow each frame's features.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


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
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    out_dir = Path(out_dir)
    metadata = read_metadata(out_dir)
    prepared = out_dir / 'features_prepared.onnx'
    quant_pre_process(str(out_dir / FEATURES_FILE), str(prepared), skip_symbolic_shape=True)
    target = out_dir / FEATURES_INT8_FILE
    tmp = target.with_name(target.name + '.tmp')
    quantize_static(str(prepared), str(tmp), CalibrationPairs(calibration), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    os.replace(tmp, target)
    prepared.unlink()
    metadata['int8'] = {'file': FEATURES_INT8_FILE, 'sha256': file_sha256(target),
                        'calibration_batches': len(calibration),
                        'format': 'QDQ', 'weights': 'int8 per channel' if per_channel else 'int8 per tensor',
                        'activations': 'uint8, MinMax'}
    atomic_write_text(out_dir / METADATA_FILE, json.dumps(metadata, indent=1))
    return target


def calibration_patches(sequences: Sequence, sample_size: int, count: int, batch: int = 1,
                        search_area_scale: float = 5.0, seed: int = 0) -> List:
    """`count` (rgb, tir) patch batches for int8 calibration: frames drawn (seeded) from `sequences`
    (pytracking Sequences with frames), cropped around their ground truth as the tracker crops
    (search area `search_area_scale` times the target), resized to `sample_size`."""
    from ltr.data.image_loader import imread_rgb
    from pytracking.features.preprocessing import numpy_to_torch, sample_patch
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


class ExportedFrameFeatures:
    """`features.onnx` (or its int8 version) run outside PyTorch, returning what the PyTorch path's
    RGBTDiMP.extract_features returns, plus the IoU features. Subclasses run the graph."""
    def __init__(self, out_dir: Path, int8: bool = False):
        self.metadata = read_metadata(out_dir)
        if int8 and not self.metadata.get('int8'):
            raise FileNotFoundError(f"{Path(out_dir) / FEATURES_INT8_FILE} not found: export with --int8 "
                                    f"(static quantisation needs calibration frames)")
        self.sample_size = int(self.metadata['sample_size'])
        self.graph = Path(out_dir) / (FEATURES_INT8_FILE if int8 else FEATURES_FILE)

    def run(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        raise NotImplementedError

    def __call__(self, rgb: torch.Tensor, tir: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(N, 3, S, S) patches in 0..255 -> dict of float32 CPU tensors."""
        if rgb.shape[-1] != self.sample_size or rgb.shape[-2] != self.sample_size:
            raise ValueError(f"the ONNX graphs were exported at {self.sample_size}x{self.sample_size}; the tracker "
                             f"samples {tuple(rgb.shape[-2:])} (set image_sample_size or export again)")
        feeds = {'rgb': rgb.detach().float().cpu().numpy(), 'tir': tir.detach().float().cpu().numpy()}
        outputs = self.run(feeds)
        return {name: torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))
                for name, out in zip(FEATURE_OUTPUTS, outputs)}


class OrtFrameFeatures(ExportedFrameFeatures):
    """The features graph in an ONNX Runtime CPU session."""
    def __init__(self, out_dir: Path, int8: bool = False, threads: Optional[int] = None):
        super().__init__(out_dir, int8)
        self.session = session(self.graph, threads)

    def run(self, feeds):
        return self.session.run(list(FEATURE_OUTPUTS), feeds)


class OpenVinoFrameFeatures(ExportedFrameFeatures):
    """The features graph compiled by OpenVINO for the CPU (latency hint). `bf16` lets OpenVINO run
    in bfloat16 (AMX / AVX512-BF16 CPUs; on others it stays in float32); OpenVINO's own default on
    such CPUs is bf16, so float32 is asked for explicitly otherwise."""
    def __init__(self, out_dir: Path, int8: bool = False, bf16: bool = False, threads: Optional[int] = None):
        if int8:
            # Measured (docs/deployment.md): OpenVINO runs our ONNX Runtime-quantised QDQ graph with a
            # relative feature error of about 0.6 (ONNX Runtime: below 0.15) and SR falls by 10 points.
            raise ValueError("the int8 graph is quantised for ONNX Runtime; OpenVINO runs it inaccurately. Use "
                             "--backend onnxruntime --int8, or OpenVINO in bfloat16 (--bf16)")
        super().__init__(out_dir, int8)
        try:
            import openvino
        except ImportError:
            raise ImportError("backend 'openvino' needs the openvino package: pip install openvino") from None
        config = {'INFERENCE_NUM_THREADS': threads or torch.get_num_threads(), 'PERFORMANCE_HINT': 'LATENCY',
                  'INFERENCE_PRECISION_HINT': 'bf16' if bf16 else 'f32'}
        self.request = openvino.Core().compile_model(str(self.graph), 'CPU', config).create_infer_request()

    def run(self, feeds):
        results = self.request.infer(feeds)
        return [results[name] for name in FEATURE_OUTPUTS]


def default_export_dir(network_sha256: str, sample_size: int) -> Path:
    """Where the tracker exports a network on first use: <network_path>/onnx/<sha256[:12]>_s<size>."""
    from pytracking.evaluation.environment import env_settings
    return Path(env_settings().network_path) / 'onnx' / f"{network_sha256[:12]}_s{sample_size}"


def open_frame_features(net: nn.Module, network_file: Path, sample_size: int, onnx_dir: Optional[str] = None,
                        int8: bool = False, runtime: str = 'onnxruntime', bf16: bool = False) -> ExportedFrameFeatures:
    """The exported feature path for the tracker, run by `runtime` ('onnxruntime' or 'openvino';
    `bf16` for OpenVINO): the graphs in `onnx_dir` (default: a folder per network file and sample
    size), checked against the network file and the sample size; exported there first when the
    folder has none (the int8 graph needs export_onnx.py --int8)."""
    if runtime not in ('onnxruntime', 'openvino'):
        raise ValueError(f"runtime must be 'onnxruntime' or 'openvino', got {runtime!r}")
    digest = file_sha256(network_file)             # read once: it names the folder and checks the graphs
    default_folder = default_export_dir(digest, sample_size)
    folder = Path(onnx_dir) if onnx_dir else default_folder
    if not (folder / METADATA_FILE).is_file():
        export_onnx(net, folder, sample_size, source=network_file, source_sha256=digest)
    problem = export_problem(folder, read_metadata(folder), digest, sample_size, int8)
    if problem and folder == default_folder and not int8:
        # Our own cache folder: an old or damaged export is replaced, never used.
        export_onnx(net, folder, sample_size, source=network_file, source_sha256=digest)
        problem = export_problem(folder, read_metadata(folder), digest, sample_size, int8)
    if problem:
        raise ValueError(f"{folder}: {problem}")
    if runtime == 'openvino':
        return OpenVinoFrameFeatures(folder, int8=int8, bf16=bf16)
    return OrtFrameFeatures(folder, int8=int8)


def export_problem(folder: Path, metadata: Dict, network_sha256: str, sample_size: int, int8: bool) -> Optional[str]:
    """Why the graphs in `folder` may not be used for the network with checksum `network_sha256`
    at `sample_size` (None when they may): onnx.json must name that network's checksum, and the graph
    file to be run must have the checksum onnx.json records for it. An export that cannot be
    verified (a checksum missing) is refused like a wrong one."""
    if metadata.get('sample_size') != sample_size:
        return (f"exported at {metadata.get('sample_size')} pixels, the tracker samples {sample_size}: "
                f"export again or set image_sample_size")
    source = metadata.get('source') if isinstance(metadata.get('source'), dict) else {}
    recorded = source.get('sha256')
    if not recorded:
        return "onnx.json records no checksum of its network: the graphs cannot be verified; export again"
    if recorded != network_sha256:
        return (f"holds graphs of another network ({source.get('path')}, sha256 {str(recorded)[:12]}), not of "
                f"the one tracking (sha256 {network_sha256[:12]}); export this one or point onnx_dir elsewhere")
    entry = metadata.get('int8' if int8 else 'features')
    if not isinstance(entry, dict):
        return f"onnx.json has no {'int8' if int8 else 'features'} entry; export again"
    graph = folder / FEATURES_INT8_FILE if int8 else folder / FEATURES_FILE
    if not entry.get('sha256'):
        return f"onnx.json records no checksum of {graph.name}: the graph cannot be verified; export again"
    if not graph.is_file():
        return f"{graph.name} is missing; export again"
    actual = file_sha256(graph)
    if actual != entry['sha256']:
        return (f"{graph.name} is not the graph onnx.json records (sha256 {actual[:12]} against "
                f"{entry['sha256'][:12]}): it was replaced or copied from another export; export again")
    return None


def build_tensorrt_engine(onnx_path: Path, engine_path: Path, fp16: bool = True, max_batch: int = 16) -> Path:
    """A TensorRT engine (TensorRT 10 Python API) built from an exported graph, its batch axis
    profiled 1..max_batch (the 13 first-frame samples fit), fp16 kernels allowed. CUDA only; written
    and reviewed, not run on our CPU machines (docs/deployment.md)."""
    import tensorrt as trt
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)              # explicit batch (TensorRT 10's only mode)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
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
    from ltr.admin.atomic import atomic_write
    with atomic_write(engine_path, 'wb') as file:
        file.write(bytes(serialized))
    return Path(engine_path)


def run_tensorrt_engine(engine_path: Path, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """One run of a TensorRT engine on CUDA tensors: inputs by name -> outputs by name (float32)."""
    import tensorrt as trt
    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(Path(engine_path).read_bytes())
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    buffers = {}
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            buffers[name] = inputs[name].to('cuda', torch.float32).contiguous()
            context.set_input_shape(name, tuple(buffers[name].shape))
    for name in names:
        if name not in buffers:
            buffers[name] = torch.empty(tuple(context.get_tensor_shape(name)), device='cuda', dtype=torch.float32)
    for name, tensor in buffers.items():
        context.set_tensor_address(name, tensor.data_ptr())
    if not context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
        raise RuntimeError(f"TensorRT engine {engine_path} failed to run")
    torch.cuda.synchronize()
    return {name: buffers[name] for name in names if name not in inputs}


def features_as_torch(net: nn.Module, rgb: torch.Tensor, tir: torch.Tensor) -> List[torch.Tensor]:
    """The PyTorch reference for features.onnx's outputs (folded copy, float32)."""
    with torch.no_grad():
        return list(FrameFeatures(net)(rgb, tir))
