"""`tuneguard export`: merged and adapter exports, the model card, and the hub upload's failures."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import cli
from tests.httpserver import http_server  # noqa: F401 - fixture
from tests.helpers.tools import PROBE, invoke, one_line_error
from tuneguard.train.adapter import load_trained

pytestmark = pytest.mark.slow


def _logits(model, tok) -> torch.Tensor:
    batch = tok([PROBE + "2 plus 3 is 5.", PROBE], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**batch).logits


def test_merged_export_loads_with_plain_transformers_and_matches(trained_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    r = cli("export", str(trained_run), "--out", str(out), "--merge")
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    peft_model, peft_tok, _ = load_trained(trained_run)
    assert tok.get_vocab() == peft_tok.get_vocab() and tok.pad_token == peft_tok.pad_token
    assert torch.allclose(_logits(merged, tok), _logits(peft_model, peft_tok), atol=1e-4)

    card = (out / "README.md").read_text("utf-8")
    for text in ("library_name: transformers", "builtin:tiny-gptj", "| train |", "| 360 |", "## Verdict",
                 "Verdict: ", "best eval loss", "r 8, alpha 16", "AutoModelForCausalLM.from_pretrained"):
        assert text in card, text


def test_adapter_export_of_a_step(trained_run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "adapter"
    r = invoke("export", str(trained_run), "--out", str(out), "--checkpoint", "40", "--dtype", "fp32")
    assert r.exit_code == 0, r.stderr
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json", "README.md"):
        assert (out / name).exists(), name
    assert "library_name: peft" in (out / "README.md").read_text("utf-8")
    base = AutoModelForCausalLM.from_pretrained(trained_run / "base_model")
    model = PeftModel.from_pretrained(base, out).eval()
    ref, ref_tok, _ = load_trained(trained_run, trained_run / "checkpoints" / "checkpoint-40")
    assert torch.allclose(_logits(model, AutoTokenizer.from_pretrained(out)), _logits(ref, ref_tok), atol=1e-5)

    r = invoke("export", str(trained_run), "--out", str(out))
    assert r.exit_code == 2
    assert "not empty" in one_line_error(r.stderr)
    r = invoke("export", str(trained_run), "--out", str(out), "--overwrite", "--merge")
    assert r.exit_code == 0, r.stderr
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()


def test_push_to_hub_without_token_or_network_fails_cleanly(trained_run, tmp_path):
    env = {"HF_TOKEN": "", "HF_HOME": str(tmp_path / "hf")}  # no saved login either
    out = tmp_path / "pushed"
    r = cli("export", str(trained_run), "--out", str(out), "--push-to-hub", "someone/tiny", env=env)
    assert r.returncode == 1
    assert "HF_TOKEN" in one_line_error(r.stderr)
    assert not out.exists()  # refused before exporting anything

    # With a token but no network (the tests run with HF_HUB_OFFLINE=1): the export is
    # written, the upload fails in one line.
    r = invoke("export", str(trained_run), "--out", str(out), "--push-to-hub", "someone/tiny",
               env={"HF_TOKEN": "hf_not_a_real_token"})
    assert r.exit_code == 1
    line = one_line_error(r.stderr)
    assert "upload to someone/tiny failed" in line and "offline" in line
    assert (out / "adapter_model.safetensors").exists()  # the local export is kept


def test_push_to_hub_private_asks_the_hub_for_a_private_repo(trained_run, tmp_path, http_server):  # noqa: F811
    """Against a local server standing in for the hub (HF_ENDPOINT): the repo is created
    private with the token; the server cannot take the upload, which fails in one line
    and keeps the local export."""
    ep = http_server()
    out = tmp_path / "private"
    env = {"HF_TOKEN": "hf_not_a_real_token", "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{ep.port}",
           "HF_HOME": str(tmp_path / "hf")}
    r = cli("export", str(trained_run), "--out", str(out), "--push-to-hub", "someone/tiny", "--private", env=env)
    assert r.returncode == 1, r.stderr
    create = ep.requests[0]
    assert create["path"] == "/api/repos/create"
    assert create["body"] == {"name": "tiny", "organization": "someone", "visibility": "private"}
    assert {k.lower(): v for k, v in create["headers"].items()}["authorization"] == "Bearer hf_not_a_real_token"
    assert "error: the export is in" in r.stderr and "upload to someone/tiny failed" in r.stderr
    assert (out / "adapter_model.safetensors").exists()


def test_an_out_folder_that_cannot_be_created_is_one_line_before_the_model_loads(trained_run, tmp_path, caplog):
    """It was a bare `FileNotFoundError: ...` after the base model had loaded (minutes for a
    large model); an --out inside the run's adapter folder is refused without creating it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    caplog.set_level("INFO")
    r = invoke("export", str(trained_run), "--out", str(blocker / "out"))
    assert r.exit_code == 2
    assert one_line_error(r.stderr) == (f"error: --out {blocker / 'out'} cannot be created (Not a directory): "
                                        "choose a folder you can write")
    assert not [rec for rec in caplog.records if rec.name.startswith("tuneguard.model")]  # no model loaded
    inside = trained_run / "adapter" / "export"
    r = invoke("export", str(trained_run), "--out", str(inside))
    assert r.exit_code == 2 and "overlaps the run's own folders" in one_line_error(r.stderr)
    assert not inside.exists()


def _card_code(folder) -> str:
    card = (folder / "README.md").read_text("utf-8")
    return card.split("## Use", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("how", ["run", "adapter", "merged"])
def test_the_cards_code_runs_as_written_and_answers_as_generate_does(trained_run, tmp_path, how):
    """A user copies the card's code, fills in the folder and a question, and runs it outside
    tuneguard: the base loads from where it is (the tiny base from the run's base_model/), the
    prompt is put in the training format, and the greedy answer is `generate`'s. "run": the card
    training wrote into RUN_DIR/adapter, in place of PEFT's empty template."""
    import contextlib
    import io

    out = trained_run / "adapter"
    if how != "run":
        out = tmp_path / "export"
        r = invoke("export", str(trained_run), "--out", str(out), *(["--merge"] if how == "merged" else []))
        assert r.exit_code == 0, r.stderr
    code = _card_code(out)
    assert "BASE_MODEL_PATH" not in code
    assert ("PATH_OR_REPO" in code) == (how != "run")  # the run's own card names its folder
    code = code.replace("PATH_OR_REPO", str(out)).replace("YOUR QUESTION", "What is 2 plus 3?")
    code = code.replace("max_new_tokens=256", "max_new_tokens=12")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the card's own code, as a user runs it
    g = invoke("generate", str(trained_run), "What is 2 plus 3?", "--temperature", "0", "--max-new-tokens", "12")
    assert g.exit_code == 0, g.stderr
    assert printed.getvalue().strip() == g.stdout.strip()
    assert printed.getvalue().strip()
