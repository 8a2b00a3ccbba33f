"""The on-disk format of a tracker's exported graphs, in one place for the tools that write it
(pytracking/libs/onnx_export.py) and the tracker's compute backends that read it.

A folder per network and sample size S holds:
- `features.onnx`: a frame pair's patches (N, 3, S, S), RGB and TIR, in 0..255 (ImageNet
  normalisation is inside the graph) -> the fused layer2 and layer3 features, the classification
  features and the two IoU-Net test features: nearly all of a frame's compute.
- `features_int8.onnx` (optional): its static int8 quantisation for ONNX Runtime.
- `features_fp16.engine` (optional): a TensorRT fp16 engine built from `features.onnx` (CUDA).
- `iou_predictor.onnx`: the two modulation vectors, the two IoU features and boxes (1, K, 4) xywh
  in patch coordinates -> predicted IoUs (1, K).
- `refine.onnx`: IoU-Net's whole refinement of a frame (pytracking/tracker/rgbt_dimp/refinement.py):
  the modulation vectors, the IoU features and start boxes (K, 4) xywh -> refined boxes (K, 4) and
  IoUs (K,), the gradient with respect to the boxes written in closed form; its schedule
  (iterations, step length, decay) is recorded with it.
- `onnx.json`: the sample size, the normalisation, input and output names, the opset, the source
  network (path and SHA-256) and the SHA-256 of every graph; a graph is run only when both checksums
  match (`export_problem`).
"""
from pathlib import Path
from typing import Dict, Optional

from ltr.admin.json_files import read_json_object
from ltr.admin.loading import file_sha256

FEATURE_INPUTS = ('rgb', 'tir')
FEATURE_OUTPUTS = ('layer2', 'layer3', 'classification', 'iou_feat3', 'iou_feat4')
IOU_INPUTS = ('modulation3', 'modulation4', 'iou_feat3', 'iou_feat4', 'boxes')
IOU_OUTPUTS = ('iou',)
REFINE_INPUTS = IOU_INPUTS
REFINE_OUTPUTS = ('refined_boxes', 'iou')
OPSET = 17
FEATURES_FILE, FEATURES_INT8_FILE, IOU_FILE, METADATA_FILE = (
    'features.onnx', 'features_int8.onnx', 'iou_predictor.onnx', 'onnx.json')
TENSORRT_FILE = 'features_fp16.engine'
REFINE_FILE = 'refine.onnx'
# onnx.json's entry of each graph a backend may run
GRAPH_ENTRIES = {'features': FEATURES_FILE, 'int8': FEATURES_INT8_FILE, 'tensorrt': TENSORRT_FILE, 'refine': REFINE_FILE}
EXPORT_COMMAND = "python pytracking/util_scripts/export_onnx.py <tracker> --net PATH --out {folder}"


def read_metadata(folder: Path) -> Dict:
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        command = EXPORT_COMMAND.format(folder=folder)
        raise FileNotFoundError(f"{path} not found: export the network first with `{command}`")
    return read_json_object(path)


def default_export_dir(network_path: Path, network_sha256: str, sample_size: int) -> Path:
    """Where a network's graphs go when no folder is named: <network_path>/onnx/<sha256[:12]>_s<size>."""
    return Path(network_path) / 'onnx' / f"{network_sha256[:12]}_s{sample_size}"


def folder_problem(folder: Path, network_sha256: str, sample_size: int, entry: str = 'features') -> Optional[str]:
    """export_problem with the folder's own onnx.json (FileNotFoundError when nothing is exported)."""
    return export_problem(folder, read_metadata(folder), network_sha256, sample_size, entry)


def export_problem(folder: Path, metadata: Dict, network_sha256: str, sample_size: int,
                   entry: str = 'features') -> Optional[str]:
    """Why the graph `entry` (a key of GRAPH_ENTRIES) in `folder` may not be run for the network with
    checksum `network_sha256` at `sample_size` (None when it may): onnx.json must name that network's
    checksum, and the graph file must have the checksum onnx.json records for it. An export that
    cannot be verified (a checksum missing) is refused like a wrong one."""
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
    record = metadata.get(entry)
    graph = Path(folder) / GRAPH_ENTRIES[entry]
    if not isinstance(record, dict):
        how = {'int8': 'export with --int8', 'tensorrt': 'build it with export_onnx.py --tensorrt on a CUDA machine'}
        return f"onnx.json has no {entry} entry ({graph.name}); {how.get(entry, 'export again')}"
    if not record.get('sha256'):
        return f"onnx.json records no checksum of {graph.name}: the graph cannot be verified; export again"
    if not graph.is_file():
        return f"{graph.name} is missing; export again"
    actual = file_sha256(graph)
    if actual != record['sha256']:
        return (f"{graph.name} is not the graph onnx.json records (sha256 {actual[:12]} against "
                f"{record['sha256'][:12]}): it was replaced or copied from another export; export again")
    return None
