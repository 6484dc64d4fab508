"""The throughput bench in bf16 on the CPU: the mixed-precision path the GPU script runs
(bf16 weights, bf16 autocast, the chunked loss forced on for the tiny vocabulary), which
crashed on its first step before the chunked loss took the final hidden state itself."""

from __future__ import annotations

import json
import math

import pytest

from tuneguard.bench.throughput import main

pytestmark = pytest.mark.slow


def test_bench_in_bf16_with_the_chunked_loss(tmp_path, capsys):
    out = tmp_path / "bench.json"
    result = main(["--model", "tiny", "--device", "cpu", "--dtype", "bf16", "--chunked-loss", "on", "--steps", "4",
                   "--warmup", "1", "--repeats", "1", "--batch", "8", "--json", "--out", str(out),
                   "--profile-dir", str(tmp_path / "prof"), "--profile-steps", "1"])
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out)
    tg, base = result["tuneguard"], result["baseline"]
    assert result["dtype"] == "bf16" and tg["dtype"] == base["dtype"] == "bfloat16"
    assert tg["chunked_loss"] is True and base["chunked_loss"] is False
    for p in (tg, base):
        assert p["optimizer_steps"] == 4 and p["tokens_per_s"] > 0 and math.isfinite(p["final_loss"])
    # Same examples, same init: the two pipelines start from the same loss (about ln 640).
    assert abs(tg["final_loss"] - base["final_loss"]) < 0.5
    assert (tmp_path / "prof" / "profile_summary.json").exists()


@pytest.mark.slow
def test_the_levers_bench_measures_lora_dropout_0_against_the_same_run_with_dropout(tmp_path):
    """tuneguard.bench.levers: `none` runs the recipe's LoRA dropout (0.1), `lora_dropout_0` the
    same examples with dropout 0; each run's settings and the ratio are in the JSON, which is
    written after every run."""
    import json

    from tuneguard.bench import levers

    out = tmp_path / "levers.json"
    levers.main(["levers", "--model", "tiny", "--device", "cpu", "--steps", "3", "--warmup", "1", "--batch", "4",
                 "--levers", "lora_dropout_0", "--threads", "1", "--out", str(out)])
    r = json.loads(out.read_text("utf-8"))
    assert list(r["runs"]) == ["none", "lora_dropout_0"]
    assert (r["runs"]["none"]["lora_dropout"], r["runs"]["lora_dropout_0"]["lora_dropout"]) == (0.1, 0.0)
    assert r["runs"]["lora_dropout_0"]["adapter_dtype"] == "float32" and not r["runs"]["lora_dropout_0"]["padding_free"]
    assert set(r["ratio_to_none"]) == {"lora_dropout_0"} and r["ratio_to_none"]["lora_dropout_0"] > 0
