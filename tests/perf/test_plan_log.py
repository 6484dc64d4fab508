"""What a run logs about its performance plan: the CUDA-only levers an automatic choice left off
on a CPU are debug lines, not three INFO lines of "off CUDA" in a first run's output; on CUDA,
on or off, each says why at info."""

from __future__ import annotations

import logging

from tuneguard.train.perf import PerfPlan, _log_plan


def test_cuda_levers_left_off_automatically_off_cuda_are_debug_and_on_cuda_info(caplog) -> None:
    cpu = PerfPlan(attention="sdpa", attention_reason="configured", compile_reason="auto: off, off CUDA",
                   fused_linear_loss_reason="auto: off, the device is not CUDA", padding_free_reason="auto: off, off CUDA")
    with caplog.at_level(logging.DEBUG, logger="tuneguard.train.perf"):
        _log_plan(cpu, "cpu")
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert [m.split(":")[0] for m in info] == ["attention", "gradient checkpointing", "chunked cross-entropy",
                                               "adapter dtype"]
    assert debug == ["compiled decoder layers: off (auto: off, off CUDA)",
                     "fused linear cross-entropy: off (auto: off, the device is not CUDA)",
                     "padding-free batches: off (auto: off, off CUDA)"]
    caplog.clear()
    gpu = PerfPlan(compiled_layers=28, compile_buckets=[128, 256], compile_reason="auto: on, CUDA",
                   fused_linear_loss_reason="auto: off, liger-kernel is not installed", padding_free=True,
                   padding_free_reason="auto: on")
    with caplog.at_level(logging.DEBUG, logger="tuneguard.train.perf"):
        _log_plan(gpu, "cuda")
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info[-3:] == ["compiled decoder layers: 28, lengths padded to [128, 256] (auto: on, CUDA)",
                         "fused linear cross-entropy: off (auto: off, liger-kernel is not installed)",
                         "padding-free batches: on (auto: on)"]
