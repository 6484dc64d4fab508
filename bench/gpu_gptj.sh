#!/usr/bin/env bash
# GPT-J-6B LoRA on one GPU: every measurement of the GPU issue in one call, about 8 minutes
# on an H100/H200 (tuneguard.bench.gpu_session), what the issue accepts on first:
# `tuneguard train` on GPT-J-6B with random weights (v2 preset, bf16, evaluation and
# checkpoints), killed and resumed with --resume auto; `tuneguard plan --calibrate` against
# the measured run; GPT-J-6B loaded in 4-bit for a few steps; then the throughput bench
# (tuneguard's pipeline against the notebook pipeline, MFU, peak memory, a profile) and, on its
# base, the bf16 loss curves of both pipelines on the same batches compared step by step; each
# speed lever alone against the same run without it, and the memory estimate against
# measured peaks at two batch sizes (tuneguard.bench.levers); the CUDA lane of the tests;
# last, the compiled-layers lever (its compile time is the unknown). Each step has its own time
# limit inside one budget; a failed step is reported and the rest still run; the command
# exits 1 if any step failed.
#
#   1. here, on the CPU machine (reaches PyPI):   bash bench/gpu_gptj.sh prepare
#      downloads into .whl/ (git-ignored) the wheels the GPU image lacks or has too old:
#      transformers 5.24 (the image's 5.17 has no sdpa for GPT-J) with the regex it needs,
#      peft, pydantic with typing-extensions >= 4.16, liger-kernel, apprise with requests-oauthlib
#      and oauthlib (tuneguard's notifications: train imports them; the image has none), and
#      bitsandbytes (trimmed to its CUDA 13 and CPU libraries: the whole wheel would not fit the
#      64 MiB that travels).
#   2. here:                                       bash bench/gpu_gptj.sh selftest
#      the same steps on this CPU: a small GPT-J-architecture model with GPT-J's vocabulary
#      in bf16 (so the chunked loss and bf16 autocast run as on the GPU); 4-bit is skipped.
#   3. on the GPU, through the device tool, once:
#      run(command="bash bench/gpu_gptj.sh", carry=[".whl"], timeout_s=600)
#      results in $OUT (8 files, the most the tool brings back): summary.json (every figure, each
#      step's status), summary.md (the figures as tables for docs/BENCHMARKS.md), log.txt, env.txt,
#      gptj_throughput.json, profile_summary.json, profile_ops.txt, details.tar.gz.
#
#   BUDGET_S=...   the whole script's budget in seconds, the wheel install included (default 500 on
#                  the GPU: with the machine's start it fits one 600 s call; 1800 in selftest)
#   ONLY=a,b       only these steps (model,train,resume,calibrate,four_bit,train_levers,bench,loss_match,levers,
#                  memory_estimate,cuda_tests,compile: the order they run in, the acceptance figures first)
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(transformers==5.24.0 regex==2026.11.19 peft==0.21.2 pydantic==2.14.4 pydantic-core==2.50.5
        annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 bitsandbytes==0.50.2
        liger-kernel==0.8.5   # liger: Triton kernels, pure Python (the image has triton 3.6; it needs >= 2.3.1)
        apprise==2.3.0 requests-oauthlib==2.0.0 oauthlib==4.0.1)  # apprise: notify/delivery imports it, train imports that

if [ "${1:-}" = prepare ]; then
  mkdir -p .whl
  rm -f .whl/*.whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_28_x86_64 -d .whl "${WHEELS[@]}"
  # bitsandbytes ships a library per CUDA version (43 MB): keep the CPU one and CUDA 13's
  # (the GPU image's torch is built for CUDA 13.0), and drop the others from its RECORD.
  python3 - .whl/bitsandbytes-*.whl <<'EOF'
import re, sys, zipfile
path = sys.argv[1]
keep = re.compile(r"libbitsandbytes_(cpu|cuda13\d)\.so$")
drop = lambda n: n.endswith(".so") and "libbitsandbytes_" in n and not keep.search(n)
src = zipfile.ZipFile(path)
items = [(i, src.read(i.filename)) for i in src.infolist() if not drop(i.filename)]
src.close()
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
    for info, data in items:
        if info.filename.endswith(".dist-info/RECORD"):
            data = b"".join(line for line in data.splitlines(True) if not drop(line.split(b",")[0].decode()))
        out.writestr(info, data)
EOF
  ls -la .whl
  du -sh .whl
  exit 0
fi

if [ "${1:-}" = selftest ]; then
  OUT=${OUT:-$(mktemp -d)}
  if [ -z "${PY:-}" ]; then PY=.venv/bin/python; [ -x "$PY" ] || PY=python3; fi  # PY=... to choose
  MODE=(--selftest)
  BUDGET=${BUDGET_S:-1800}
else
  OUT=${OUT:?run through the device tool, or set OUT}
  PY=python3
  MODE=()
  BUDGET=${BUDGET_S:-500}
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "no .whl/ carried: run 'bash bench/gpu_gptj.sh prepare' here and carry .whl" >&2
    exit 2
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
mkdir -p "$OUT"

{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch, transformers, peft, accelerate, pydantic; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, 'pydantic', pydantic.VERSION)
from transformers import GPTJForCausalLM; print('gptj sdpa', GPTJForCausalLM._supports_sdpa, 'flex', GPTJForCausalLM._supports_flex_attn)
print('cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '',
      torch.cuda.get_device_capability(0) if torch.cuda.is_available() else '')
try:
    import bitsandbytes; print('bitsandbytes', bitsandbytes.__version__)
except Exception as exc: print('bitsandbytes: not usable:', exc)
try:
    import importlib.metadata as md, liger_kernel.transformers.functional
    print('liger-kernel', md.version('liger-kernel'), 'triton', md.version('triton'))
except Exception as exc: print('liger-kernel: not usable:', exc)
try:  # what every tuneguard step imports (the notifier's apprise, pydantic, peft): a miss here fails them all
    import apprise, tuneguard.train.build, tuneguard.bench.levers; print('tuneguard: imports, apprise', apprise.__version__)
except Exception as exc: print('tuneguard: DOES NOT IMPORT:', type(exc).__name__, exc)" || echo "cannot import the libraries with $PY"
  lscpu | grep 'Model name' || true
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# The session's exit code is this script's: 1 when any step failed. The budget is the whole
# script's: what the wheel install and the library check took (bash's SECONDS) is not the steps'.
ONLY_ARGS=()
[ -n "${ONLY:-}" ] && ONLY_ARGS=(--only "$ONLY")
echo "setup took ${SECONDS} s; the steps get $((BUDGET - SECONDS)) s of the ${BUDGET} s budget" | tee -a "$OUT/log.txt"
exec "$PY" -m tuneguard.bench.gpu_session --out "$OUT" --budget-s "$((BUDGET - SECONDS))" "${MODE[@]}" "${ONLY_ARGS[@]}"
