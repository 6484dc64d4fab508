"""`tuneguard generate` and `tuneguard chat` on a trained tiny run."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from tests.helpers.cli import cli
from tests.helpers.tools import PROBE, invoke, one_line_error
from tuneguard.train.adapter import load_trained

pytestmark = pytest.mark.slow


def _greedy(run, adapter, prompt: str, n: int) -> str:
    """What base + that adapter generate greedily, computed here without the CLI."""
    model, tok, _ = load_trained(run, adapter)
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("checkpoint,folder", [("last", "checkpoint-60"), ("40", "checkpoint-40")])
def test_generate_from_a_checkpoint_in_the_prompt_template(trained_run, checkpoint, folder):
    r = cli("generate", str(trained_run), "What is 2 plus 3?", "--checkpoint", checkpoint,
            "--temperature", "0", "--max-new-tokens", "12")
    assert r.returncode == 0, r.stderr
    assert "prompt format: prompt template" in r.stderr
    # The instruction went through data.prompt_template, into that checkpoint's adapter.
    expected = _greedy(trained_run, trained_run / "checkpoints" / folder, PROBE, 12)
    assert r.stdout.strip() == expected.strip()


def test_generate_raw_sends_the_prompt_verbatim(trained_run):
    r = invoke("generate", str(trained_run), PROBE, "--raw", "--temperature", "0", "--max-new-tokens", "12")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == _greedy(trained_run, None, PROBE, 12).strip()


def test_generate_user_errors_exit_2_with_one_line(trained_run, tmp_path):
    r = invoke("generate", str(trained_run), "hi", "--checkpoint", "7")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "no checkpoint at step 7" in line and "available steps: 20, 40, 60" in line
    r = invoke("generate", str(tmp_path / "nowhere"), "hi")
    assert r.exit_code == 2
    assert "nowhere does not exist" in one_line_error(r.stderr)
    r = invoke("generate", str(trained_run), "hi", "--checkpoint", "newest")
    assert r.exit_code == 2
    assert "best, last or a step number" in one_line_error(r.stderr)


def test_chat_in_a_pseudo_terminal(trained_run):
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "tuneguard", "chat", str(trained_run), "--temperature", "0",
                                           "--max-new-tokens", "12"],
                          env={**os.environ, "COLUMNS": "200"}, encoding="utf-8", timeout=120,
                          dimensions=(40, 200))
    try:
        child.expect_exact("you> ")
        child.sendline("What is 2 plus 3?")
        child.expect_exact("model> ")
        child.expect_exact("you> ")  # the reply was streamed and the prompt came back
        reply = child.before.strip()
        assert reply == _greedy(trained_run, None, PROBE, 12).strip()
        child.sendline("/reset")
        child.expect_exact("history cleared")
        child.expect_exact("you> ")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before


def test_sampling_with_a_tiny_top_p_keeps_only_the_most_likely_token(trained_run):
    """--top-p reaches the sampler: with top-p 1e-9 only the most likely token survives, so
    sampling (at any temperature) writes exactly the greedy text."""
    r = invoke("generate", str(trained_run), PROBE, "--raw", "--temperature", "1.5", "--top-p", "1e-9",
               "--max-new-tokens", "12")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == _greedy(trained_run, None, PROBE, 12).strip()
    r = invoke("generate", str(trained_run), PROBE, "--top-p", "0")
    assert r.exit_code == 2
    assert "--top-p must be in (0, 1], got 0" in one_line_error(r.stderr)
