#!/usr/bin/env bash
# One prepared GPU check (about 5-8 minutes on one H100): the CUDA tests (TensorRT's included), then the speed benchmark
# of teacher, student and Student-Origin (FPS, GFLOPs, memory, training iterations/s at the
# paper's batch sizes) and the PrRoIPool benchmark. A failing test does not stop the benchmarks
# (their figures are wanted either way); the script exits with the tests' status.
# Writes speed_cuda.json and cuda_tests.txt to $OUT (or .).
#   bash pytracking/util_scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-.}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))" || exit 1
"$PY" -m pip install -q tensorrt 2>/dev/null || echo "tensorrt not installable here: its test will skip"
"$PY" -m pytest -q -rA tests/test_prroi_pool.py tests/test_tracker.py tests/test_onnx.py -k "cuda or tensorrt" 2>&1 | tee "$OUT/cuda_tests.txt"
tests=${PIPESTATUS[0]}
TRT=$("$PY" -c "import tensorrt" 2>/dev/null && echo tensorrt)      # the TensorRT backend's FPS column when it installed
"$PY" pytracking/util_scripts/benchmark_speed.py --device cuda --frames 100 --repeats 3 --backends torch $TRT \
    --json "$OUT/speed_cuda.json"
"$PY" ltr/util_scripts/benchmark_prroi_pool.py --device cuda
exit "$tests"
