"""Run a tracker on a data set (pytracking's run_tracker.py):

    python pytracking/run_tracker.py cmd_student rgbt234            # PARAM names a data set: runs it
    python pytracking/run_tracker.py cmd_student default --dataset_name synthetic --sequence 0
    python pytracking/run_tracker.py cmd_teacher lasher --threads 4 --num_gpus 2 --net /path/teacher.pth.tar

Results: <results_path>/<tracker>/<param>[_<runid>]/<seq>.txt and <seq>_time.txt. Finished
sequences are skipped, so an interrupted run resumes where it stopped.
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..')))

from ltr.admin.loading import CheckpointError  # noqa: E402
from ltr.data.image_loader import add_thermal_range_argument, set_thermal_range  # noqa: E402
from pytracking.evaluation.datasets import DATASETS, get_dataset  # noqa: E402
from pytracking.evaluation.running import ResultsFolderError, run_dataset  # noqa: E402
from pytracking.evaluation.tracker import Tracker, load_parameters  # noqa: E402
from pytracking.tracker.rgbt_dimp.compute import RUNTIME_PRECISIONS, ComputeChoice  # noqa: E402
from pytracking.utils.missing_modality import parse_simulation  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Run an RGB-T tracker on a data set.')
    parser.add_argument('tracker_name', help='cmd_student or cmd_teacher')
    parser.add_argument('tracker_param', help='parameter file (a data-set name runs that data set)')
    parser.add_argument('--dataset_name', default=None, choices=sorted(DATASETS))
    parser.add_argument('--sequence', default=None, help='sequence index or name')
    parser.add_argument('--runid', type=int, default=None)
    parser.add_argument('--threads', type=int, default=0, help='parallel worker processes (0: sequential)')
    parser.add_argument('--num_gpus', type=int, default=0)
    parser.add_argument('--debug', type=int, default=0, help='1: save/show crops, score map and state per frame')
    parser.add_argument('--net', default=None, help='network file or training checkpoint folder')
    parser.add_argument('--simulate-missing', default=None, metavar='MODALITY:RATE',
                        help="blank seeded segments of one modality (e.g. tir:0.3) to evaluate tracking under "
                             "drop-out; results go to their own folder (<param>_missing_tir0.3)")
    add_backend_arguments(parser)
    add_thermal_range_argument(parser)
    return parser.parse_args(argv)


def add_backend_arguments(parser) -> None:
    parser.add_argument('--backend', default='torch', choices=tuple(RUNTIME_PRECISIONS),
                        help="onnxruntime/openvino: the per-frame features through the exported ONNX graph on the "
                             "CPU; tensorrt: its fp16 engine on a CUDA GPU (exported or built on first use); "
                             "results go to <param>_<backend>[_<precision>]")
    parser.add_argument('--int8', action='store_true', help="with --backend onnxruntime: the int8 features graph "
                        "(export it first: pytracking/util_scripts/export_onnx.py --int8)")
    parser.add_argument('--bf16', action='store_true', help='bfloat16 features (torch autocast or OpenVINO; fast on '
                        'CPUs with AMX)')
    parser.add_argument('--onnx-dir', default=None, help='folder of the exported graphs (export_onnx.py --out)')


def backend_overrides(args) -> dict:
    """Tracker parameters of --backend/--int8/--bf16/--onnx-dir (none for the default PyTorch float32);
    a combination no backend runs is refused here, by the rule the tracker applies (ComputeChoice)."""
    overrides = {'amp_dtype': 'bfloat16'} if args.bf16 else {}
    if args.backend != 'torch' or args.int8:
        overrides.update(backend=args.backend, onnx_int8=args.int8, onnx_dir=args.onnx_dir)
    try:
        ComputeChoice.runtime_and_precision(overrides)
    except ValueError as err:
        flags = f"--backend {args.backend}" + ' --int8' * args.int8 + ' --bf16' * args.bf16
        raise SystemExit(f"{flags}: {err}") from None
    return overrides


def select_sequence(dataset, sequence: str, dataset_name: str) -> list:
    """The one sequence named by --sequence (an index or a name); SystemExit naming the valid range."""
    if sequence.isdigit():
        index = int(sequence)
        if index >= len(dataset):
            raise SystemExit(f"--sequence {index} is out of range: {dataset_name} has {len(dataset)} sequences "
                             f"(0 to {len(dataset) - 1})")
        return dataset[index:index + 1]
    try:
        return [dataset[sequence]]
    except (KeyError, IndexError):
        raise SystemExit(f"--sequence {sequence!r}: no such sequence in {dataset_name}") from None


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    args = parse_args(argv)
    if args.thermal_range:
        set_thermal_range(args.thermal_range)
    dataset_name = args.dataset_name
    if dataset_name is None:
        dataset_name = args.tracker_param if args.tracker_param in DATASETS else \
            load_parameters(args.tracker_name, args.tracker_param).default_dataset
    try:
        dataset = get_dataset(dataset_name, require_frames=True)
    except (ValueError, FileNotFoundError) as err:       # AnnotationError, UnsafeNameError, a missing root
        raise SystemExit(f"{dataset_name}: {err}") from None
    if args.sequence is not None:
        dataset = select_sequence(dataset, args.sequence, dataset_name)
    try:
        simulation = parse_simulation(args.simulate_missing) if args.simulate_missing else None
    except ValueError as err:
        raise SystemExit(str(err)) from None
    tracker = Tracker(args.tracker_name, args.tracker_param, args.runid, net_path=args.net, simulate_missing=simulation,
                      param_overrides=backend_overrides(args))
    try:        # a missing or broken network fails before anything is written (network.json included)
        tracker.get_parameters().net.training_crop_size()
    except (FileNotFoundError, CheckpointError) as err:
        raise SystemExit(str(err)) from None
    print(f"{args.tracker_name}/{args.tracker_param} on {dataset_name}: {len(dataset)} sequences -> {tracker.results_dir}")
    try:
        statuses = run_dataset(dataset, [tracker], debug=args.debug, threads=args.threads, num_gpus=args.num_gpus)
    except ResultsFolderError as err:
        raise SystemExit(str(err)) from None
    failed = [s for s in statuses if s['status'] == 'failed']
    for status in failed:
        print(f"FAILED {status['sequence']}: {status['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
