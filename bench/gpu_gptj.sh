#!/usr/bin/env bash
# GPT-J-6B LoRA throughput on one GPU: tuneguard's pipeline against the notebook pipeline,
# plus a torch.profiler summary of tuneguard's steps. Finishes in about 3-4 minutes on an
# H100/H200 (model init, a matmul peak, two short training runs, a profiled one).
#
# Two steps, because the GPU machine has no network and an older transformers (5.17, whose
# GPT-J has no sdpa) and no pydantic:
#
#   1. here, on the CPU machine (reaches PyPI):   bash bench/gpu_gptj.sh prepare
#      downloads the wheels it needs into .whl/ (ignored through .git/info/exclude)
#   2. on the GPU, through the device tool:
#      run(command="bash bench/gpu_gptj.sh", carry=[".whl"], timeout_s=540)
#      results land in $OUT: gptj_throughput.json (the bench's JSON), gptj_b16.json with
#      EXTRA=1, profile_summary.json and profile_ops.txt (top ops by device time),
#      env.txt, log.txt.
#
#   bash bench/gpu_gptj.sh selftest   runs the same script logic on this CPU machine with the
#   tiny model (no wheels; the project's venv), to catch mistakes before spending GPU time.
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(transformers==5.24.0 peft==0.21.2 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0
        typing-inspection==0.4.5)

if [ "${1:-}" = prepare ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    -d .whl "${WHEELS[@]}"
  ls -la .whl
  exit 0
fi

if [ "${1:-}" = selftest ]; then
  OUT=$(mktemp -d)
  PY=.venv/bin/python
  ARGS=(--model tiny --device cpu --steps 10 --warmup 2 --repeats 1)
else
  OUT=${OUT:?run through the device tool, or set OUT}
  PY=python3
  ARGS=(--model gptj-6b --steps 24 --warmup 3 --batch 8 --accum 2 --memory-budget-gb 40 --baseline-checkpointing)
  if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
  else
    echo "no .whl/ carried: run 'bash bench/gpu_gptj.sh prepare' here and carry .whl" >&2
  fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
mkdir -p "$OUT"

{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>/dev/null || true
  "$PY" -c "import torch, transformers, peft, accelerate; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__)
from transformers import GPTJForCausalLM; print('gptj sdpa', GPTJForCausalLM._supports_sdpa, 'flex', GPTJForCausalLM._supports_flex_attn)"
  lscpu | grep 'Model name' || true
} 2>&1 | tee "$OUT/env.txt"

# Main figure: the 40 GB goal (batch 8 x 2 accumulated = the same 16 examples per step as
# the baseline's 4 x 4; gradient checkpointing auto against a 40 GB budget).
timeout 400 "$PY" -m tuneguard.bench.throughput "${ARGS[@]}" --json --out "$OUT/gptj_throughput.json" \
  --profile-dir "$OUT" --profile-steps 3 2>&1 | tee "$OUT/log.txt"

# Optional: batch 16 with the card's whole memory (EXTRA=1).
if [ "${EXTRA:-0}" = 1 ] && [ "${1:-}" != selftest ]; then
  timeout 200 "$PY" -m tuneguard.bench.throughput --model gptj-6b --steps 24 --warmup 3 --batch 16 --accum 1 \
    --baseline-checkpointing --json --out "$OUT/gptj_b16.json" 2>&1 | tee -a "$OUT/log.txt"
fi

"$PY" - "$OUT" <<'EOF'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
r = json.loads((out / "gptj_throughput.json").read_text())
for k in ("baseline", "tuneguard"):
    p = r[k]
    print(f"{k:10s} {p['tokens_per_s']:>10.0f} tok/s  pad {p['pad_fraction']:.3f}  "
          f"mem {p.get('peak_memory_gb', p.get('peak_rss_growth_gb'))}  mfu {p.get('mfu')}  "
          f"attn {p['attention']} ckpt {p['gradient_checkpointing']} chunked {p['chunked_loss']}")
print("ratio", r["ratio_tokens_per_s"], "matmul peak TFLOP/s", r.get("matmul_peak_tflops"))
s = out / "profile_summary.json"
if s.exists():
    print(s.read_text())
EOF
