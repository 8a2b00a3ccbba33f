#!/usr/bin/env bash
# One-command install: creates .venv and installs CMD-RGBT with everything it needs.
# Idempotent: a second run with unchanged inputs returns in seconds.
#   PYTHON=python3.11 bash install.sh     # choose the interpreter
#   RGBT_TORCH="torch==2.5.1 torchvision==0.20.1" bash install.sh   # choose the torch build
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
VPY=$VENV/bin/python
STAMP=$VENV/.rgbt-install-stamp

inputs_hash() {
    cat install.sh requirements.txt pyproject.toml | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}
HASH=$(inputs_hash)
if [ -x "$VPY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
    echo "install.sh: .venv is up to date (delete $STAMP to force a reinstall)"
    exit 0
fi

# System libturbojpeg lets jpeg4py decode JPEGs fast; without it decoding falls back to OpenCV.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if ! ldconfig -p 2>/dev/null | grep -q libturbojpeg; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libturbojpeg0; } \
            || echo "install.sh: libturbojpeg0 not installed; image decoding will use OpenCV" >&2
    fi
else
    echo "install.sh: not root or no apt-get; skipping libturbojpeg (OpenCV decodes images)" >&2
fi

[ -x "$VPY" ] || "$PYTHON" -m venv "$VENV"
# The machine's pip config may list index folders that do not exist; hide only those warnings.
pip_install() {
    "$VPY" -m pip --disable-pip-version-check install -q "$@" 2> >(grep -v "is ignored: it is neither" >&2)
}

# Keep a torch that is already there (e.g. a user's CUDA build); otherwise install the known-good pair.
if ! "$VPY" -c 'import torch, torchvision' >/dev/null 2>&1; then
    if [ -n "${RGBT_TORCH:-}" ]; then
        TORCH_SPEC=$RGBT_TORCH
    elif [ "$(uname -m)" = aarch64 ]; then
        TORCH_SPEC="torch==2.9.1 torchvision==0.24.1"
    else
        TORCH_SPEC="torch==2.14.1 torchvision==0.29.1"
    fi
    # shellcheck disable=SC2086
    pip_install $TORCH_SPEC
fi

pip_install -r requirements.txt
# visdom and jpeg4py are source packages whose setup.py needs pkg_resources, which setuptools>=81
# dropped; torch pulls a newer setuptools, so pin it back just before building them.
pip_install "setuptools<81" wheel
pip_install --no-build-isolation visdom jpeg4py
pip_install --no-deps --no-build-isolation -e .

"$VPY" -c 'import torch, cv2, rgbt, ltr, pytracking; print("install.sh: torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'
echo "$HASH" > "$STAMP"
