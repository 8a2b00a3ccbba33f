"""ONNX export of the per-frame networks, the compute backends that run them (ONNX Runtime, OpenVINO,
int8, TensorRT: its engine mocked at the runner seam on the CPU, real on a CUDA machine)."""
import json

import numpy as np
import pytest
import torch

from ltr.admin.loading import file_sha256, save_network
from pytracking import run_tracker
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.tracker import Tracker
from pytracking.evaluation.environment import env_settings
from pytracking.features.net_wrappers import NetworkFile
from pytracking.libs import onnx_export as ox
from pytracking.libs import onnx_graphs as og
from pytracking.tracker.rgbt_dimp import compute
from pytracking.tracker.rgbt_dimp.compute import ComputeChoice, OpenVinoRunner, checked_graph
from pytracking.tracker.rgbt_dimp.defaults import DEFAULTS
from pytracking.tracker.rgbt_dimp.refinement import ascend_iou
from pytracking.util_scripts import export_onnx
from pytracking.utils.params import TrackerParams
from rgbt.benchmarks import Synthetic
from rgbt.nets import cmd_student
from rgbt.synthetic import SequenceSpec, generate_benchmark

from conftest import SAMPLE, SHARED

pytest.importorskip('onnxruntime')
BOX_TOLERANCE = 1e-2        # pixels: float32 kernels of PyTorch and ONNX Runtime sum in other orders


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp('syn'), 'rgbt234', {'train': 2, 'test': 2},
                              SequenceSpec(num_frames=12, width=160, height=128), seed=3, progress=False)


@pytest.fixture(scope='module')
def exported(network_file, synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('onnx')
    export_onnx.main(['cmd_student', '--net', str(network_file), '--out', str(out), '--int8',
                      '--calibration', str(synthetic_root), '--calibration-batches', '8'])
    return out


def test_export_writes_checked_graphs_that_onnx_runtime_runs_like_pytorch(exported, network_file):
    import onnx
    for name in (og.FEATURES_FILE, og.IOU_FILE, og.FEATURES_INT8_FILE):
        onnx.checker.check_model(str(exported / name))
    metadata = json.loads((exported / og.METADATA_FILE).read_text())
    assert metadata['sample_size'] == SAMPLE and metadata['features']['outputs'] == list(og.FEATURE_OUTPUTS)
    assert metadata['iou_predictor']['inputs'] == list(og.IOU_INPUTS)
    assert metadata['source']['sha256'] == file_sha256(network_file) and metadata['int8']['file'] == og.FEATURES_INT8_FILE
    assert metadata['normalisation']['inside_graph'] and metadata['normalisation']['mean'] == [0.485, 0.456, 0.406]
    net = Tracker('cmd_student', 'default', net_path=str(network_file)).get_parameters().net.load('cpu')
    differences = export_onnx.parity(net, exported, SAMPLE)
    assert set(differences) == set(og.FEATURE_OUTPUTS) | {'iou'}
    assert max(differences.values()) < 1e-4, differences
    # The graph's batch axis is dynamic: the 13 first-frame samples go through in one call.
    rgb = torch.rand(13, 3, SAMPLE, SAMPLE) * 255
    assert export_onnx.run_features(exported, rgb, rgb)['classification'].shape[0] == 13


def test_int8_graph_is_quantised_per_channel_and_stays_close_on_calibration_like_patches(exported, network_file,
                                                                                         synthetic_root):
    import onnx
    model = onnx.load(str(exported / og.FEATURES_INT8_FILE))
    ops = {node.op_type for node in model.graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    int8_weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 20                                        # the backbone's convolutions
    per_channel = [t for t in model.graph.initializer if t.name.endswith('_scale') and len(t.dims) == 1 and t.dims[0] > 1]
    assert per_channel, 'weights are quantised per channel'
    assert (exported / og.FEATURES_INT8_FILE).stat().st_size < 0.5 * (exported / og.FEATURES_FILE).stat().st_size
    sequences = [Sequence.from_benchmark(s) for s in Synthetic(synthetic_root, 'test').sequences(require_frames=True)]
    errors = export_onnx.int8_relative_errors(exported, ox.calibration_patches(sequences, SAMPLE, 1, batch=4, seed=5)[0])
    assert set(errors) == set(og.FEATURE_OUTPUTS)
    for name, relative in errors.items():
        assert 0 < relative < 0.25, (name, relative)


_TORCH_BOXES = {}


def tracked_boxes(network_file, sequence, **overrides) -> np.ndarray:
    """The boxes of a run (PyTorch runs kept: several tests compare against the same one)."""
    key = (str(network_file), sequence.name, len(sequence.frames))
    if not overrides and key in _TORCH_BOXES:
        return _TORCH_BOXES[key]
    tracker = Tracker('cmd_student', 'default', net_path=str(network_file), param_overrides=overrides)
    boxes = np.array(tracker.run_sequence(sequence)['target_bbox'])
    if not overrides:
        _TORCH_BOXES[key] = boxes
    return boxes


def track_both(network_file, sequence, **backend):
    return {'torch': tracked_boxes(network_file, sequence),
            'onnxruntime': tracked_boxes(network_file, sequence, backend='onnxruntime', **backend)}


def test_onnx_runtime_backend_tracks_the_synthetic_split_like_pytorch(exported, network_file, synthetic_root):
    for sequence in get_dataset('synthetic', root=synthetic_root, require_frames=True):
        boxes = track_both(network_file, sequence, onnx_dir=str(exported))
        assert boxes['torch'].shape == (len(sequence), 4)
        np.testing.assert_allclose(boxes['onnxruntime'], boxes['torch'], atol=BOX_TOLERANCE, rtol=0)


def test_openvino_runs_the_same_graph_like_pytorch_in_float32(exported, network_file, synthetic_root):
    pytest.importorskip('openvino')
    rgb = torch.rand(2, 3, SAMPLE, SAMPLE) * 255
    reference = export_onnx.run_features(exported, rgb, rgb)
    outputs = dict(zip(og.FEATURE_OUTPUTS, OpenVinoRunner(exported / og.FEATURES_FILE)(rgb, rgb)))   # f32 asked for
    for name in og.FEATURE_OUTPUTS:
        torch.testing.assert_close(outputs[name], reference[name], atol=1e-4, rtol=1e-4)
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    with pytest.raises(ValueError, match='OpenVINO runs it inaccurately'):
        ComputeChoice.from_params({'backend': 'openvino', 'onnx_int8': True})
    openvino = tracked_boxes(network_file, sequence, backend='openvino', onnx_dir=str(exported))
    np.testing.assert_allclose(openvino, tracked_boxes(network_file, sequence), atol=BOX_TOLERANCE, rtol=0)


@pytest.mark.skipif(not (SHARED / 'data' / 'vtuav_bus1').is_dir(), reason='../shared/data/vtuav_bus1 not present')
def test_onnx_runtime_backend_tracks_the_real_vtuav_sequence_like_pytorch(network_file, tmp_path, monkeypatch):
    monkeypatch.setenv('RGBT_NETWORK_PATH', str(tmp_path))            # the default export folder
    root = tmp_path / 'VTUAV'
    (root / 'test_ST').mkdir(parents=True)
    (root / 'test_ST' / 'bus1').symlink_to((SHARED / 'data' / 'vtuav_bus1').resolve())
    full = get_dataset('vtuav', root=root, require_frames=True)[0]
    sequence = Sequence(full.name, full.frames[:15], "vtuav", full.ground_truth_rect[:15])    # 15 real frames
    boxes = track_both(network_file, sequence)
    assert len(list((tmp_path / 'onnx').glob('*/features.onnx'))) == 1      # exported on first use
    np.testing.assert_allclose(boxes['onnxruntime'], boxes['torch'], atol=BOX_TOLERANCE, rtol=0)


def graph_check(network_file, folder, sample_size=SAMPLE, int8=False):
    """What the tracker's backend does before it opens a graph: checks it against the network and size."""
    params = TrackerParams(DEFAULTS, net=NetworkFile('x.pth', path=str(network_file)), onnx_dir=str(folder),
                           backend='onnxruntime', onnx_int8=int8)
    return checked_graph(params, ComputeChoice.from_params(params), sample_size)


def test_graphs_of_another_network_or_size_are_refused(exported, network_file, tmp_path):
    torch.manual_seed(1)
    other = tmp_path / 'other.pth.tar'
    save_network(cmd_student(backbone_pretrained=False), other, settings={'output_sz': SAMPLE})
    assert graph_check(network_file, exported) == exported / og.FEATURES_FILE
    with pytest.raises(ValueError, match='holds graphs of another network'):
        graph_check(other, exported)
    with pytest.raises(ValueError, match='exported at 128 pixels, the tracker samples 160'):
        graph_check(other, exported, 160)
    empty = tmp_path / 'plain'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='export the network first'):
        graph_check(network_file, empty)
    metadata = json.loads((exported / og.METADATA_FILE).read_text())
    (empty / og.METADATA_FILE).write_text(json.dumps(dict(metadata, int8=None)))
    with pytest.raises(ValueError, match='no int8 entry .features_int8.onnx.; export with --int8'):
        graph_check(network_file, empty, int8=True)


def copy_export(exported, folder):
    import shutil
    shutil.copytree(exported, folder)
    return folder


def test_an_unverifiable_or_swapped_graph_is_refused_never_used(exported, network_file, tmp_path):
    nulled = copy_export(exported, tmp_path / 'nulled')
    metadata = json.loads((nulled / og.METADATA_FILE).read_text())
    metadata['source']['sha256'] = None
    (nulled / og.METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match='records no checksum of its network'):
        graph_check(network_file, nulled)
    swapped = copy_export(exported, tmp_path / 'swapped')
    (swapped / og.FEATURES_FILE).write_bytes((swapped / og.IOU_FILE).read_bytes())
    with pytest.raises(ValueError, match='features.onnx is not the graph onnx.json records'):
        graph_check(network_file, swapped)
    (swapped / og.FEATURES_INT8_FILE).unlink()
    with pytest.raises(ValueError, match='features_int8.onnx is missing'):
        graph_check(network_file, swapped, int8=True)
    broken = copy_export(exported, tmp_path / 'broken')
    (broken / og.METADATA_FILE).write_text('{"sample_size": 128,')
    with pytest.raises(ValueError, match=r'onnx.json is not valid JSON \(line 1'):
        graph_check(network_file, broken)


def test_a_damaged_graph_in_the_tracker_s_own_cache_is_exported_again(exported, network_file, tmp_path, monkeypatch):
    monkeypatch.setenv('RGBT_NETWORK_PATH', str(tmp_path))
    params = Tracker('cmd_student', 'default', net_path=str(network_file),
                     param_overrides={'backend': 'onnxruntime'}).get_parameters()
    cache = og.default_export_dir(env_settings().network_path, file_sha256(network_file), SAMPLE)
    copy_export(exported, cache)
    (cache / og.FEATURES_FILE).write_bytes((cache / og.IOU_FILE).read_bytes())
    with pytest.raises(ValueError, match='features.onnx is not the graph onnx.json records'):
        compute.open_compute(params)                      # the tracker refuses; it never exports
    assert ox.ensure_graphs(params, ComputeChoice.from_params(params)) == cache
    recorded = json.loads((cache / og.METADATA_FILE).read_text())['features']['sha256']
    assert file_sha256(cache / og.FEATURES_FILE) == recorded
    rgb = torch.rand(1, 3, SAMPLE, SAMPLE) * 255
    assert compute.open_compute(params).features(rgb, rgb)['classification'].shape[0] == 1


def test_cli_backend_options_and_their_results_folder():
    with pytest.raises(SystemExit, match="--int8: backend 'torch' runs .*, not int8 .*--backend onnxruntime --int8"):
        run_tracker.backend_overrides(run_tracker.parse_args(['cmd_student', 'synthetic', '--int8']))
    args = run_tracker.parse_args(['cmd_student', 'synthetic', '--backend', 'onnxruntime', '--int8'])
    tracker = Tracker('cmd_student', 'synthetic', param_overrides=run_tracker.backend_overrides(args))
    assert tracker.results_dir.name == 'synthetic_onnxruntime_int8'
    assert Tracker('cmd_student', 'synthetic').results_dir.name == 'synthetic'
    args = run_tracker.parse_args(['cmd_student', 'synthetic', '--backend', 'openvino', '--bf16'])
    overrides = run_tracker.backend_overrides(args)
    assert overrides['amp_dtype'] == 'bfloat16' and overrides['backend'] == 'openvino'
    assert Tracker('cmd_student', 'synthetic', param_overrides=overrides).results_dir.name == 'synthetic_openvino_bf16'


def test_the_backend_is_chosen_once_by_one_rule():
    cases = [({}, ('torch', 'float32', ''), True),
             ({'amp_dtype': 'bfloat16'}, ('torch', 'bfloat16', '_bf16'), True),
             ({'backend': 'onnxruntime', 'onnx_int8': True}, ('onnxruntime', 'int8', '_onnxruntime_int8'), False),
             ({'backend': 'openvino', 'amp_dtype': 'bfloat16'}, ('openvino', 'bfloat16', '_openvino_bf16'), False),
             ({'backend': 'tensorrt'}, ('tensorrt', 'float16', '_tensorrt_fp16'), True)]
    for params, (runtime, precision, suffix), on_gpu in cases:
        choice = ComputeChoice.from_params(dict(params, use_gpu=True), cuda_available=True)
        assert (choice.runtime, choice.precision, choice.folder_suffix) == (runtime, precision, suffix)
        assert choice.device == ('cuda' if on_gpu else 'cpu')          # the graph runtimes here run on the CPU
        assert ComputeChoice.folder_suffix_of(params) == suffix
    assert ComputeChoice.from_params({'use_gpu': True}, cuda_available=False).device == 'cpu'
    refused = [({'backend': 'onnxruntime', 'amp_dtype': 'bfloat16'}, "'onnxruntime' runs float32 or int8, not bfloat16"),
               ({'onnx_int8': True}, "'torch' runs float32 or bfloat16 or float16, not int8"),
               ({'backend': 'onnxruntime', 'onnx_int8': True, 'amp_dtype': 'float16'}, 'exclude each other'),
               ({'backend': 'tflite'}, 'backend must be one of'), ({'amp_dtype': 'int4'}, 'amp_dtype must be one of')]
    for params, message in refused:
        with pytest.raises(ValueError, match=message):
            ComputeChoice.from_params(params, cuda_available=True)
    with pytest.raises(ValueError, match="'tensorrt' needs a CUDA GPU"):
        ComputeChoice.from_params({'backend': 'tensorrt'}, cuda_available=False)


def fake_engine_folder(exported, folder):
    """An export whose 'TensorRT engine' is features.onnx itself, recorded like a built engine."""
    copy_export(exported, folder)
    engine = folder / og.TENSORRT_FILE
    engine.write_bytes((folder / og.FEATURES_FILE).read_bytes())
    metadata = json.loads((folder / og.METADATA_FILE).read_text())
    metadata['tensorrt'] = {'file': og.TENSORRT_FILE, 'sha256': file_sha256(engine)}
    (folder / og.METADATA_FILE).write_text(json.dumps(metadata))
    return folder


def test_tensorrt_backend_tracks_through_its_runner_seam(exported, network_file, synthetic_root, tmp_path, monkeypatch):
    """The TensorRT backend end to end with only the engine replaced (by ONNX Runtime on the same
    float32 graph, on the CPU): the tracker opens the checked engine file through the runner seam and
    tracks like PyTorch; its results folder says fp16. The real engine runs in device_check.sh."""
    folder = fake_engine_folder(exported, tmp_path / 'trt')
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    reference = tracked_boxes(network_file, sequence)                     # PyTorch, before the backend is faked
    opened = []
    monkeypatch.setattr(compute, 'TensorRTRunner', lambda path: opened.append(path) or compute.OrtRunner(path))
    monkeypatch.setattr(ComputeChoice, 'from_params',
                        classmethod(lambda cls, params, cuda_available=None: cls('tensorrt', 'float16', 'cpu')))
    tracker = Tracker('cmd_student', 'default', net_path=str(network_file),
                      param_overrides={'backend': 'tensorrt', 'onnx_dir': str(folder)})
    assert tracker.results_dir.name == 'default_tensorrt_fp16'
    boxes = np.array(tracker.run_sequence(sequence)['target_bbox'])
    assert opened == [folder / og.TENSORRT_FILE]
    np.testing.assert_allclose(boxes, reference, atol=BOX_TOLERANCE, rtol=0)
    (folder / og.TENSORRT_FILE).write_bytes(b'another engine')
    with pytest.raises(ValueError, match='features_fp16.engine is not the graph onnx.json records'):
        tracker.run_sequence(sequence)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='TensorRT needs a CUDA GPU')
def test_tensorrt_engine_from_the_exported_graph(exported, tmp_path):
    pytest.importorskip('tensorrt')
    folder = copy_export(exported, tmp_path / 'trt')
    engine = ox.build_tensorrt_engine(folder, fp16=True)
    assert engine.stat().st_size > 1000 and json.loads((folder / og.METADATA_FILE).read_text())['tensorrt']['sha256']
    rgb = torch.rand(1, 3, SAMPLE, SAMPLE) * 255
    outputs = dict(zip(og.FEATURE_OUTPUTS, compute.TensorRTRunner(engine)(rgb, rgb)))
    reference = export_onnx.run_features(exported, rgb, rgb)
    for name in og.FEATURE_OUTPUTS:        # fp16: relative error of a few 1e-3
        relative = float((outputs[name].cpu().float() - reference[name]).norm() / reference[name].norm())
        assert relative < 0.05, (name, relative)


def test_refinement_graph_runs_the_closed_form_ascent_like_pytorch_and_autograd(exported, network_file):
    """refine.onnx (5 steps, closed-form box gradient) in ONNX Runtime against the same steps in
    PyTorch and against DiMP's autograd ascent: boxes within 1e-3 px in float32."""
    net = Tracker('cmd_student', 'default', net_path=str(network_file)).get_parameters().net.load('cpu').eval()
    _, (m3, m4, i3, i4, boxes) = ox.example_inputs(net, SAMPLE)
    boxes = boxes[0]
    runner = compute.OrtRunner(exported / og.REFINE_FILE)
    refined, ious = runner.run(dict(zip(og.REFINE_INPUTS, (m3, m4, i3, i4, boxes))), og.REFINE_OUTPUTS)
    modulated = net.bb_regressor.modulate((m3, m4), (i3, i4))
    with torch.no_grad():
        expected, expected_ious = ascend_iou(net.bb_regressor, modulated, boxes, 5, 1.0, 1.0)
    assert float((refined - boxes).abs().max()) > 0.01                       # the steps moved the boxes
    torch.testing.assert_close(refined, expected, rtol=0, atol=1e-3)
    torch.testing.assert_close(ious, expected_ious, rtol=0, atol=1e-4)
    start = boxes.view(1, -1, 4)                                               # DiMP's ascent by autograd
    for _ in range(5):
        start = start.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(net.bb_regressor.predict_iou_modulated(modulated, start).sum(), start)
        start = start + grad * start[:, :, 2:].repeat(1, 1, 2)
    torch.testing.assert_close(refined, start.detach()[0], rtol=0, atol=1e-3)
    # The pooled window follows the boxes inside the graph (not the export's example boxes).
    for shift in ([30.0, 12.0, 4.0, 0.0], [-25.0, 20.0, 0.0, 6.0]):
        moved = torch.cat((boxes + torch.tensor(shift), boxes[:2] - 20))
        got, _ = runner.run(dict(zip(og.REFINE_INPUTS, (m3, m4, i3, i4, moved))), og.REFINE_OUTPUTS)
        with torch.no_grad():
            torch.testing.assert_close(got, ascend_iou(net.bb_regressor, modulated, moved, 5, 1.0, 1.0)[0],
                                       rtol=0, atol=1e-3)
    metadata = json.loads((exported / og.METADATA_FILE).read_text())['refine']
    assert (metadata['iterations'], metadata['step_length'], metadata['step_decay']) == (5, 1.0, 1.0)
    params = TrackerParams(DEFAULTS, net=NetworkFile('x.pth', path=str(network_file)), onnx_dir=str(exported),
                           backend='onnxruntime', image_sample_size=SAMPLE)
    backend = compute.open_compute(params)
    assert backend.refiner is not None and backend.schedule == (5, 1.0, 1.0)
