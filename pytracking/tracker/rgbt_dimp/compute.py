"""What runs the tracker's networks: one compute backend object per tracker, chosen once from the
parameters (`ComputeChoice.from_params`, `open_compute`).

A backend owns the device, the precision, the frame features, IoU-Net's box refinement and the
name of its results folder. The tracker calls it through `features`, `iou_features` and
`refine_boxes`, and its `net` (the PyTorch network on the backend's device) for the target filter,
which every backend runs in PyTorch. It never names a backend.

Backends (runtime, precisions, device):
- `torch`: float32, bfloat16 or float16 (autocast of the feature extraction); CPU, or CUDA when
  `use_gpu` and a GPU is there.
- `onnxruntime`: float32 or int8 graphs, CPU.
- `openvino`: float32, or bfloat16 by its precision hint, CPU (the same float32 graph).
- `tensorrt`: an fp16 engine, CUDA.
The exported-graph backends run `features.onnx` (or its int8 / TensorRT form) for every frame and
every initial sample; refinement stays in PyTorch on the backend's device (it differentiates the
IoU with respect to the boxes). Their graphs are written by the tools (pytracking/libs/onnx_export.py),
which this module never imports: it opens a folder's graph only after checking that it belongs to the
tracking network and sample size (pytracking/libs/onnx_graphs.py).
"""
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ltr.models.layers.blocks import fold_batch_norm
from pytracking.evaluation.environment import env_settings
from pytracking.features.preprocessing import normalize
from pytracking.libs import onnx_graphs as og
from pytracking.tracker.rgbt_dimp.defaults import tracking_sample_size
from pytracking.tracker.rgbt_dimp.refinement import ascend_iou

# runtime -> the precisions it runs, the first being its default
RUNTIME_PRECISIONS = {
    'torch': ('float32', 'bfloat16', 'float16'),
    'onnxruntime': ('float32', 'int8'),
    'openvino': ('float32', 'bfloat16'),
    'tensorrt': ('float16',),
}
PRECISION_SUFFIX = {'float32': '', 'bfloat16': 'bf16', 'float16': 'fp16', 'int8': 'int8'}
AMP_PRECISIONS = {None: 'float32', 'bfloat16': 'bfloat16', 'float16': 'float16'}


@dataclass(frozen=True)
class ComputeChoice:
    """A backend's runtime, precision and device, validated together."""
    runtime: str = 'torch'
    precision: str = 'float32'
    device: str = 'cpu'

    @staticmethod
    def runtime_and_precision(params) -> Tuple[str, str]:
        """From the parameters `backend`, `amp_dtype` and `onnx_int8`; a combination no backend runs
        is an error (never a folder named for a precision that did not run)."""
        runtime = params.get('backend', 'torch')
        if runtime not in RUNTIME_PRECISIONS:
            raise ValueError(f"backend must be one of {tuple(RUNTIME_PRECISIONS)}, got {runtime!r}")
        amp_dtype = params.get('amp_dtype')
        if amp_dtype not in AMP_PRECISIONS:
            raise ValueError(f"amp_dtype must be one of {tuple(AMP_PRECISIONS)}, got {amp_dtype!r}")
        if params.get('onnx_int8') and amp_dtype:
            raise ValueError(f"onnx_int8 and amp_dtype={amp_dtype!r} exclude each other")
        precision = 'int8' if params.get('onnx_int8') else AMP_PRECISIONS[amp_dtype]
        if runtime == 'tensorrt' and precision == 'float32':
            precision = 'float16'                      # TensorRT runs its fp16 engine only
        if precision not in RUNTIME_PRECISIONS[runtime]:
            why = ''
            if precision == 'int8':
                why = " (int8 is ONNX Runtime's quantised graph: --backend onnxruntime --int8"
                # Measured (docs/deployment.md): OpenVINO runs that QDQ graph with a relative feature
                # error of about 0.6 (ONNX Runtime: below 0.15) and SR falls by 10 points.
                why += "; OpenVINO runs it inaccurately)" if runtime == 'openvino' else ")"
            runs = ' or '.join(RUNTIME_PRECISIONS[runtime])
            raise ValueError(f"backend {runtime!r} runs {runs}, not {precision}{why}")
        return runtime, precision

    @classmethod
    def from_params(cls, params, cuda_available: Optional[bool] = None) -> 'ComputeChoice':
        runtime, precision = cls.runtime_and_precision(params)
        cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
        if runtime == 'tensorrt' and not cuda:
            raise ValueError("backend 'tensorrt' needs a CUDA GPU (and the tensorrt package)")
        on_gpu = runtime == 'tensorrt' or (runtime == 'torch' and params.get('use_gpu') and cuda)
        return cls(runtime, precision, 'cuda' if on_gpu else 'cpu')

    @classmethod
    def folder_suffix_of(cls, params) -> str:
        """The results folder's suffix of the backend the parameters choose, without opening it."""
        return cls(*cls.runtime_and_precision(params)).folder_suffix

    @property
    def folder_suffix(self) -> str:
        """'' (PyTorch float32), '_bf16', '_onnxruntime_int8', '_tensorrt_fp16', ...; the device is
        not part of it (as in pytracking)."""
        parts = ([] if self.runtime == 'torch' else [self.runtime]) + [PRECISION_SUFFIX[self.precision]]
        return ''.join('_' + part for part in parts if part)

    @property
    def exported(self) -> bool:
        return self.runtime != 'torch'

    @property
    def graph_entry(self) -> str:
        """onnx.json's entry (onnx_graphs.GRAPH_ENTRIES) of the features graph this backend runs."""
        return {'int8': 'int8'}.get(self.precision, 'tensorrt' if self.runtime == 'tensorrt' else 'features')


def tracking_network_key(params, device: torch.device, compile_backbone: bool) -> tuple:
    """What makes two prepared networks differ."""
    return device, params.fold_batch_norm, params.channels_last, compile_backbone


def prepare_network(source: torch.nn.Module, device: torch.device, fold: bool, channels_last: bool,
                    compile_backbone: bool) -> torch.nn.Module:
    """A tracking copy of `source`, which stays as it is: eval mode, no parameter gradients (tracking
    differentiates only the IoU with respect to the boxes), BatchNorm folded into the convolutions,
    on `device`, in channels-last memory format, its backbone compiled, as asked."""
    net = copy.deepcopy(source).eval().requires_grad_(False)
    if fold:
        fold_batch_norm(net)
    net = net.to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    if compile_backbone:
        mode = 'reduce-overhead' if device.type == 'cuda' else 'default'
        net.feature_extractor = torch.compile(net.feature_extractor, mode=mode, dynamic=False)
    return net


class Compute:
    """The PyTorch part every backend has (the network on the device: target filter, classifier,
    IoU-Net modulation and refinement); subclasses give the frame features."""

    def __init__(self, choice: ComputeChoice, params, compile_backbone: bool = False):
        self.choice = choice
        self.device = torch.device(choice.device)
        self.sample_size = tracking_sample_size(params)
        key = tracking_network_key(params, self.device, compile_backbone)
        self.net = params.net.prepared(key, lambda net: prepare_network(
            net, self.device, params.fold_batch_norm, params.channels_last, compile_backbone))
        self.memory_format = torch.channels_last if params.channels_last else torch.contiguous_format
        if self.device.type == 'cuda':
            torch.backends.cudnn.benchmark = params.cudnn_benchmark    # process-wide: cuDNN has no per-module setting

    def upload(self, tensor: torch.Tensor) -> torch.Tensor:
        """A host tensor on the device. On a GPU it goes through pinned memory without blocking: a
        plain copy from pageable memory would wait for the queued GPU work."""
        if self.device.type != 'cuda' or tensor.is_cuda:
            return tensor.to(self.device)
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def features(self, rgb_patches: torch.Tensor, tir_patches: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Fused 'layer2'/'layer3' features and the 'classification' features of (N, 3, S, S) patch
        pairs in 0..255, float32 on the device; exported backends add 'iou_feat' (their graph computes
        IoU-Net's test features)."""
        raise NotImplementedError

    def iou_features(self, features: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        if 'iou_feat' in features:
            return features['iou_feat']
        with torch.no_grad():
            return self.net.bb_regressor.get_iou_feat([features[layer] for layer in self.net.bb_regressor_layer])

    def refine_boxes(self, modulation, iou_features, boxes: torch.Tensor, iterations: int, step_length: float,
                     step_decay: float) -> Tuple[torch.Tensor, torch.Tensor]:
        """DiMP's gradient ascent on the predicted IoU of (K, 4) xywh boxes, steps scaled by the box
        size, in PyTorch on the device (refinement.ascend_iou: the box gradient in closed form, what
        refine.onnx holds; faster than autograd's in eager mode too, docs/speed.md). Returns the final
        boxes and the IoUs of the last prediction (before the last step)."""
        with torch.no_grad():
            modulated = self.net.bb_regressor.modulate(modulation, iou_features)
            return ascend_iou(self.net.bb_regressor, modulated, boxes.view(-1, 4), iterations, step_length,
                              step_decay)


class TorchCompute(Compute):
    """PyTorch on the CPU or a GPU, float32 or autocast to bfloat16/float16 (features are returned
    in float32, so the filter optimisation and the refinement always run in full precision)."""

    def __init__(self, choice: ComputeChoice, params):
        super().__init__(choice, params, compile_backbone=params.compile_backbone)
        self.autocast_dtype = None if choice.precision == 'float32' else getattr(torch, choice.precision)

    def features(self, rgb_patches, tir_patches):
        rgb = normalize(rgb_patches.to(self.device)).contiguous(memory_format=self.memory_format)
        tir = normalize(tir_patches.to(self.device)).contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            fused = self.net.extract_features(rgb, tir)
            fused['classification'] = self.net.extract_classification_feat(fused)
        return {name: feat.float().contiguous() for name, feat in fused.items()}


class GraphRunner:
    """Runs one exported graph: `run(feeds, outputs)` with tensors by input name -> the named outputs
    (float32); called with (rgb, tir) it runs a features graph. The seam the exported backends differ
    at (and the one tests replace)."""

    def run(self, feeds: Dict[str, torch.Tensor], outputs: Sequence[str]) -> List[torch.Tensor]:
        raise NotImplementedError

    def __call__(self, rgb: torch.Tensor, tir: torch.Tensor) -> List[torch.Tensor]:
        return self.run({'rgb': rgb, 'tir': tir}, og.FEATURE_OUTPUTS)


def host_arrays(feeds: Dict[str, torch.Tensor]) -> Dict[str, np.ndarray]:
    return {name: tensor.detach().float().cpu().numpy() for name, tensor in feeds.items()}


def as_tensors(arrays) -> List[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)) for array in arrays]


class OrtRunner(GraphRunner):
    """An ONNX Runtime CPU inference session with all graph optimisations."""

    def __init__(self, graph: Path, threads: Optional[int] = None):
        import onnxruntime as ort                  # optional dependency of this backend
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        # ONNX Runtime's threads spin-wait after a run by default, taking the cores from the PyTorch
        # refinement and filter updates that follow each frame's features.
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.session = ort.InferenceSession(str(graph), options, providers=['CPUExecutionProvider'])

    def run(self, feeds, outputs):
        return as_tensors(self.session.run(list(outputs), host_arrays(feeds)))


class OpenVinoRunner(GraphRunner):
    """The float32 graph compiled by OpenVINO for the CPU (latency hint). `bf16` lets OpenVINO run in
    bfloat16 (AMX / AVX512-BF16 CPUs; on others it stays in float32); OpenVINO's own default on such
    CPUs is bf16, so float32 is asked for explicitly otherwise."""

    def __init__(self, graph: Path, bf16: bool = False, threads: Optional[int] = None):
        try:
            import openvino                        # optional dependency of this backend
        except ImportError:
            raise ImportError("backend 'openvino' needs the openvino package: pip install openvino") from None
        config = {'INFERENCE_NUM_THREADS': threads or torch.get_num_threads(), 'PERFORMANCE_HINT': 'LATENCY',
                  'INFERENCE_PRECISION_HINT': 'bf16' if bf16 else 'f32'}
        self.request = openvino.Core().compile_model(str(graph), 'CPU', config).create_infer_request()

    def run(self, feeds, outputs):
        results = self.request.infer(host_arrays(feeds))
        return as_tensors(results[name] for name in outputs)


class TensorRTRunner(GraphRunner):
    """A TensorRT engine (TensorRT 10 Python API), deserialised once, run on CUDA tensors in the
    current stream; float32 inputs and outputs (the engine computes in fp16 inside)."""

    def __init__(self, engine_path: Path):
        import tensorrt as trt                     # optional dependency, CUDA machines only
        self.trt = trt
        logger = trt.Logger(trt.Logger.WARNING)
        self.engine = trt.Runtime(logger).deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT cannot load {engine_path} (built by another TensorRT version or GPU?): "
                               f"build it again with export_onnx.py --tensorrt")
        self.context = self.engine.create_execution_context()
        self.path = engine_path

    def run(self, feeds, outputs):
        inputs = {name: tensor.to('cuda', torch.float32).contiguous() for name, tensor in feeds.items()}
        for name, tensor in inputs.items():
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        results = []
        for name in outputs:
            out = torch.empty(tuple(self.context.get_tensor_shape(name)), device='cuda', dtype=torch.float32)
            self.context.set_tensor_address(name, out.data_ptr())
            results.append(out)
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError(f"TensorRT engine {self.path} failed to run")
        return results


def open_runner(choice: ComputeChoice, graph: Path, float32: bool = False) -> GraphRunner:
    """The runner of `choice` for a graph (`float32`: in full precision whatever the backend's)."""
    if choice.runtime == 'onnxruntime':
        return OrtRunner(graph)
    if choice.runtime == 'openvino':
        return OpenVinoRunner(graph, bf16=choice.precision == 'bfloat16' and not float32)
    return TensorRTRunner(graph)


class ExportedCompute(Compute):
    """An exported features graph run by ONNX Runtime, OpenVINO or TensorRT (`runner`)."""

    def __init__(self, choice: ComputeChoice, params, runner: Optional[GraphRunner] = None):
        super().__init__(choice, params)
        # Checked once per network, folder and size, like the runners opened from them: the
        # sequences of a run share them (the checks hash the graph files).
        key = ('checked graphs', choice, str(graph_folder(params, self.sample_size)), self.sample_size)
        self.graph, refine = params.net.prepared(key, lambda net: (checked_graph(params, choice, self.sample_size),
                                                                   checked_refine_graph(params, choice, self.sample_size)))
        self.runner = runner or params.net.prepared(('runner', choice, str(self.graph)),
                                                    lambda net: open_runner(choice, self.graph))
        self.refiner, self.schedule = None, None
        if refine is not None:
            graph, self.schedule = refine
            self.refiner = params.net.prepared(('refiner', choice, str(graph)),
                                               lambda net: open_runner(choice, graph, float32=True))

    def refine_boxes(self, modulation, iou_features, boxes, iterations, step_length, step_decay):
        """In the exported refine graph when it was exported with this schedule (float32), else as
        every backend does (PyTorch on the device)."""
        if self.refiner is None or self.schedule != (iterations, step_length, step_decay):
            return super().refine_boxes(modulation, iou_features, boxes, iterations, step_length, step_decay)
        feeds = dict(zip(og.REFINE_INPUTS, (modulation[0].reshape(1, -1), modulation[1].reshape(1, -1),
                                            *iou_features, boxes.view(-1, 4))))
        refined, ious = self.refiner.run(feeds, og.REFINE_OUTPUTS)
        return refined.to(self.device), ious.to(self.device)

    def features(self, rgb_patches, tir_patches):
        if tuple(rgb_patches.shape[-2:]) != (self.sample_size, self.sample_size):
            raise ValueError(f"the graphs were exported at {self.sample_size}x{self.sample_size}; the tracker "
                             f"samples {tuple(rgb_patches.shape[-2:])} (set image_sample_size or export again)")
        outputs = dict(zip(og.FEATURE_OUTPUTS, (out.to(self.device) for out in self.runner(rgb_patches, tir_patches))))
        return {'layer2': outputs['layer2'], 'layer3': outputs['layer3'], 'classification': outputs['classification'],
                'iou_feat': (outputs['iou_feat3'], outputs['iou_feat4'])}


def graph_folder(params, sample_size: int) -> Path:
    """The folder of the exported graphs: `onnx_dir`, else the default one of the network and size."""
    if params.onnx_dir:
        return Path(params.onnx_dir)
    return og.default_export_dir(env_settings().network_path, params.net.sha256(), sample_size)


def checked_graph(params, choice: ComputeChoice, sample_size: int) -> Path:
    """The features graph `choice` runs, after checking it belongs to the tracking network and sample
    size (a ValueError naming the folder otherwise; FileNotFoundError when nothing is exported)."""
    folder = graph_folder(params, sample_size)
    problem = og.folder_problem(folder, params.net.sha256(), sample_size, choice.graph_entry)
    if problem:
        raise ValueError(f"{folder}: {problem}")
    return folder / og.GRAPH_ENTRIES[choice.graph_entry]


def checked_refine_graph(params, choice: ComputeChoice, sample_size: int) -> Optional[Tuple[Path, tuple]]:
    """(refine.onnx, its schedule) when the folder holds a verified one for the ONNX Runtime backend;
    None otherwise (exports older than it; OpenVINO and TensorRT: the refinement runs in PyTorch)."""
    if choice.runtime != 'onnxruntime':
        # OpenVINO and TensorRT refine in PyTorch (the same closed form): OpenVINO's execution of the
        # graph's data-dependent window is not checked beyond one test, and a full test run that
        # compiled it crashed the process later (2026-12-03; cause not isolated).
        return None
    folder = graph_folder(params, sample_size)
    metadata = og.read_metadata(folder)
    if og.export_problem(folder, metadata, params.net.sha256(), sample_size, 'refine') is not None:
        return None
    record = metadata['refine']
    schedule = (int(record['iterations']), float(record['step_length']), float(record['step_decay']))
    return folder / og.REFINE_FILE, schedule


def open_compute(params, choice: Optional[ComputeChoice] = None) -> Compute:
    """The tracker's backend, as the parameters choose it (or as `choice` says)."""
    choice = choice or ComputeChoice.from_params(params)
    return ExportedCompute(choice, params) if choice.exported else TorchCompute(choice, params)
