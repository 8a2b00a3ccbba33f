"""ONNX export of the per-frame networks, the ONNX Runtime tracking backend, int8, TensorRT (CUDA only)."""
import json

import numpy as np
import pytest
import torch

from ltr.admin.loading import file_sha256, save_network
from pytracking import run_tracker
from pytracking.evaluation.data import Sequence
from pytracking.evaluation.datasets import get_dataset
from pytracking.evaluation.tracker import Tracker
from pytracking.tracker.rgbt_dimp import onnx_backend as ob
from pytracking.util_scripts import export_onnx
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
    for name in (ob.FEATURES_FILE, ob.IOU_FILE, ob.FEATURES_INT8_FILE):
        onnx.checker.check_model(str(exported / name))
    metadata = json.loads((exported / ob.METADATA_FILE).read_text())
    assert metadata['sample_size'] == SAMPLE and metadata['features']['outputs'] == list(ob.FEATURE_OUTPUTS)
    assert metadata['iou_predictor']['inputs'] == list(ob.IOU_INPUTS)
    assert metadata['source']['sha256'] == file_sha256(network_file) and metadata['int8']['file'] == ob.FEATURES_INT8_FILE
    assert metadata['normalisation']['inside_graph'] and metadata['normalisation']['mean'] == [0.485, 0.456, 0.406]
    net = Tracker('cmd_student', 'default', net_path=str(network_file)).get_parameters().net.load('cpu')
    differences = export_onnx.parity(net, exported, SAMPLE)
    assert set(differences) == set(ob.FEATURE_OUTPUTS) | {'iou'}
    assert max(differences.values()) < 1e-4, differences
    # The graph's batch axis is dynamic: the 13 first-frame samples go through in one call.
    rgb = torch.rand(13, 3, SAMPLE, SAMPLE) * 255
    assert ob.OrtFrameFeatures(exported)(rgb, rgb)['classification'].shape[0] == 13


def test_int8_graph_is_quantised_per_channel_and_stays_close_on_calibration_like_patches(exported, network_file,
                                                                                         synthetic_root):
    import onnx
    model = onnx.load(str(exported / ob.FEATURES_INT8_FILE))
    ops = {node.op_type for node in model.graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    int8_weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 20                                        # the backbone's convolutions
    per_channel = [t for t in model.graph.initializer if t.name.endswith('_scale') and len(t.dims) == 1 and t.dims[0] > 1]
    assert per_channel, 'weights are quantised per channel'
    assert (exported / ob.FEATURES_INT8_FILE).stat().st_size < 0.5 * (exported / ob.FEATURES_FILE).stat().st_size
    sequences = [Sequence.from_benchmark(s) for s in Synthetic(synthetic_root, 'test').sequences(require_frames=True)]
    errors = export_onnx.int8_relative_errors(exported, ob.calibration_patches(sequences, SAMPLE, 1, batch=4, seed=5)[0])
    assert set(errors) == set(ob.FEATURE_OUTPUTS)
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
    reference = ob.OrtFrameFeatures(exported)(rgb, rgb)
    outputs = ob.OpenVinoFrameFeatures(exported)(rgb, rgb)          # f32 asked for explicitly
    for name in ob.FEATURE_OUTPUTS:
        torch.testing.assert_close(outputs[name], reference[name], atol=1e-4, rtol=1e-4)
    sequence = get_dataset('synthetic', root=synthetic_root, require_frames=True)[0]
    with pytest.raises(ValueError, match='OpenVINO runs it inaccurately'):
        ob.OpenVinoFrameFeatures(exported, int8=True)
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


def test_graphs_of_another_network_or_size_are_refused(exported, tmp_path):
    torch.manual_seed(1)
    other = tmp_path / 'other.pth.tar'
    save_network(cmd_student(backbone_pretrained=False), other, settings={'output_sz': SAMPLE})
    net = torch.nn.Module()
    with pytest.raises(ValueError, match='holds graphs of another network'):
        ob.open_frame_features(net, other, SAMPLE, str(exported))
    with pytest.raises(ValueError, match='exported at 128 pixels, the tracker samples 160'):
        ob.open_frame_features(net, other, 160, str(exported))
    with pytest.raises(FileNotFoundError, match='export with --int8'):
        empty = tmp_path / 'plain'
        empty.mkdir()
        (empty / ob.METADATA_FILE).write_text(json.dumps({'sample_size': SAMPLE, 'int8': None}))
        ob.OrtFrameFeatures(empty, int8=True)


def copy_export(exported, folder):
    import shutil
    shutil.copytree(exported, folder)
    return folder


def test_an_unverifiable_or_swapped_graph_is_refused_never_used(exported, network_file, tmp_path):
    net = torch.nn.Module()            # never run: the folder is refused before any session opens
    nulled = copy_export(exported, tmp_path / 'nulled')
    metadata = json.loads((nulled / ob.METADATA_FILE).read_text())
    metadata['source']['sha256'] = None
    (nulled / ob.METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match='records no checksum of its network'):
        ob.open_frame_features(net, network_file, SAMPLE, str(nulled))
    swapped = copy_export(exported, tmp_path / 'swapped')
    (swapped / ob.FEATURES_FILE).write_bytes((swapped / ob.IOU_FILE).read_bytes())
    with pytest.raises(ValueError, match='features.onnx is not the graph onnx.json records'):
        ob.open_frame_features(net, network_file, SAMPLE, str(swapped))
    (swapped / ob.FEATURES_INT8_FILE).unlink()
    with pytest.raises(ValueError, match='features_int8.onnx is missing'):
        ob.open_frame_features(net, network_file, SAMPLE, str(swapped), int8=True)
    broken = copy_export(exported, tmp_path / 'broken')
    (broken / ob.METADATA_FILE).write_text('{"sample_size": 128,')
    with pytest.raises(ValueError, match=r'onnx.json is not valid JSON \(line 1'):
        ob.open_frame_features(net, network_file, SAMPLE, str(broken))


def test_a_damaged_graph_in_the_tracker_s_own_cache_is_exported_again(exported, network_file, tmp_path, monkeypatch):
    cache = copy_export(exported, tmp_path / 'cache')
    monkeypatch.setattr(ob, 'default_export_dir', lambda digest, size: cache)
    (cache / ob.FEATURES_FILE).write_bytes((cache / ob.IOU_FILE).read_bytes())
    net = Tracker('cmd_student', 'default', net_path=str(network_file)).get_parameters().net.load('cpu')
    features = ob.open_frame_features(net, network_file, SAMPLE)
    recorded = json.loads((cache / ob.METADATA_FILE).read_text())['features']['sha256']
    assert file_sha256(cache / ob.FEATURES_FILE) == recorded
    rgb = torch.rand(1, 3, SAMPLE, SAMPLE) * 255
    assert features(rgb, rgb)['classification'].shape[0] == 1


def test_cli_backend_options_and_their_results_folder():
    with pytest.raises(SystemExit, match='--int8 needs --backend onnxruntime or openvino'):
        run_tracker.backend_overrides(run_tracker.parse_args(['cmd_student', 'synthetic', '--int8']))
    args = run_tracker.parse_args(['cmd_student', 'synthetic', '--backend', 'onnxruntime', '--int8'])
    tracker = Tracker('cmd_student', 'synthetic', param_overrides=run_tracker.backend_overrides(args))
    assert tracker.results_dir.name == 'synthetic_onnxruntime_int8'
    assert Tracker('cmd_student', 'synthetic').results_dir.name == 'synthetic'
    args = run_tracker.parse_args(['cmd_student', 'synthetic', '--backend', 'openvino', '--bf16'])
    overrides = run_tracker.backend_overrides(args)
    assert overrides['amp_dtype'] == 'bfloat16' and overrides['backend'] == 'openvino'
    assert Tracker('cmd_student', 'synthetic', param_overrides=overrides).results_dir.name == 'synthetic_openvino_bf16'


@pytest.mark.skipif(not torch.cuda.is_available(), reason='TensorRT needs a CUDA GPU')
def test_tensorrt_engine_from_the_exported_graph(exported, tmp_path):
    pytest.importorskip('tensorrt')
    engine = ob.build_tensorrt_engine(exported / ob.FEATURES_FILE, tmp_path / 'features.engine', fp16=True)
    assert engine.stat().st_size > 1000
    rgb = torch.rand(1, 3, SAMPLE, SAMPLE) * 255
    outputs = ob.run_tensorrt_engine(engine, {'rgb': rgb, 'tir': rgb})
    reference = ob.OrtFrameFeatures(exported)(rgb, rgb)
    for name in ob.FEATURE_OUTPUTS:        # fp16: relative error of a few 1e-3
        relative = float((outputs[name].cpu().float() - reference[name]).norm() / reference[name].norm())
        assert relative < 0.05, (name, relative)
