"""The README's first command as a new user runs it: `tuneguard demo` with the real
SmolLM2-135M (not the tiny fallback), in a process that cannot import `llm` or
`llama_cpp`, whatever this environment holds.

`scripts/install.sh` installs the model package with --no-deps, so those two packages are
absent on a fresh machine; the demo once failed there at once because it imported the model
package (whose __init__ imports `llm`) just to find the GGUF file. A meta-path finder on
the demo's PYTHONPATH (a sitecustomize) makes any import of them fail, so this test fails
if anything on the demo's path imports them. Under CI (CI=true) a missing model package is a
failure, not a skip: CI installs with scripts/install.sh, which installs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuneguard.data.synthetic import DEMO_PROBES
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

BLOCKED = ("llm", "llama_cpp")
SITECUSTOMIZE = f'''
"""Test harness: the packages a fresh install does not have cannot be imported."""
import sys


class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is blocked: a fresh install of tuneguard does not have it")
        return None


sys.meta_path.insert(0, _Blocked())
'''


def _entry_point() -> list[str]:
    """The `tuneguard` console script of this environment (as the README runs it)."""
    script = Path(sys.executable).with_name("tuneguard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tuneguard"]


def test_readme_demo_runs_smollm2_without_llm_or_llama_cpp(tmp_path: Path) -> None:
    from tests.helpers.realtext import require_smollm2

    require_smollm2()
    site = tmp_path / "blocker"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p),
           "COLUMNS": "200", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    for name in BLOCKED:  # the blocker is in force in the demo's environment
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True)
        assert probe.returncode != 0 and "is blocked" in probe.stderr, probe.stderr

    run = tmp_path / "tuneguard-demo"
    r = subprocess.run([*_entry_point(), "demo", "--steps", "2", "--run-dir", str(run)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "tiny random-init" not in out and "builtin:tiny-gptj" not in out, "the demo fell back to the tiny model"
    assert "LoRA fine-tune of builtin:smollm2-135m" in r.stdout and "what happened" in r.stdout
    # 2 steps (the first in the warmup at learning rate 0) are too few to judge: never "underfitting"
    assert "Diagnosis: inconclusive: too short to judge" in r.stdout, r.stdout[-3000:]
    assert (run / "adapter" / "adapter_config.json").is_file()
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert (run / "report.html").is_file() and (run / "report.md").is_file()
    assert not (run / "base_model").exists()  # only the tiny model saves its random base
    with RunStore(run, readonly=True) as s:
        assert s.state() == "finished"
        assert s.get_meta("config")["model"]["name"] == "builtin:smollm2-135m"
        qa, base = s.qa_samples(), s.qa_samples(base=True)
        # every probe of the demo answered by the fine-tuned model and by the base (the before/after)
        assert len(qa) == len(base) == len(DEMO_PROBES), (qa, base)
        assert all(q["output"].strip() and q["expected"] for q in qa + base), (qa, base)
        assert s.metrics("test"), "the held-out test split was evaluated"
