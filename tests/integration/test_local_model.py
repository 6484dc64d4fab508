"""A model from a local folder, the way a user brings their own: a tiny GPT-J saved with
`save_pretrained`, its tokenizer's pad token equal to EOS, trained with
`model.name=<folder>` and the automatic LoRA targets.

This is the branch of model loading every built-in model skips: `from_pretrained` on a
folder, the hub token handed to it, the pad token replaced and the embeddings resized
(padded to a multiple of 64), the adapter reloaded onto the folder's weights by `generate`
and `export --merge`, and a folder that is not there. Then `model.gguf_file`: a tiny GPT-2
written here as a GGUF file, trained and reloaded the same way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tests.helpers.cli import assert_failed_start, invoke
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

TOKEN = "hf_PLANTEDlocalFolderToken42"
PROMPT = "### Instruction:\nWhat is 2 plus 3?\n\n### Response:\n"
GPTJ_TARGETS = ["k_proj", "out_proj", "q_proj", "v_proj"]


def save_local_gptj(folder: Path) -> tuple[int, int]:
    """A random-init GPT-J and its tokenizer (pad == eos, as GPT-J's own) saved as a user's
    folder; returns (vocabulary size, EOS id)."""
    from transformers import GPTJConfig, GPTJForCausalLM

    from tuneguard.model.load import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    tok.pad_token = tok.eos_token
    torch.manual_seed(0)
    model = GPTJForCausalLM(GPTJConfig(vocab_size=len(tok), n_positions=256, n_embd=64, n_layer=2, n_head=4,
                                       rotary_dim=8, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                                       pad_token_id=tok.eos_token_id, tie_word_embeddings=False,
                                       initializer_range=0.1))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return len(tok), tok.eos_token_id


class FromPretrainedSpy:
    """Records the keyword arguments of every AutoModelForCausalLM / AutoTokenizer /
    AutoConfig.from_pretrained call, then makes the real call."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        for cls in (AutoModelForCausalLM, AutoTokenizer, AutoConfig):
            mp.setattr(cls, "from_pretrained", staticmethod(self._wrap(cls.__name__, cls.from_pretrained)))

    def _wrap(self, who: str, real: Any) -> Any:
        def spy(name: Any, *a: Any, **kw: Any) -> Any:
            self.calls.append((who, str(name), dict(kw)))
            return real(name, *a, **kw)
        return spy

    def tokens(self, who: str, name: str) -> list[Any]:
        return [kw.get("token") for w, n, kw in self.calls if w == who and n == name]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """One run of `tuneguard train` on the folder (6 steps, in this process)."""
    root = tmp_path_factory.mktemp("local-model")
    folder = root / "my-gptj"
    vocab, eos = save_local_gptj(folder)
    data = write_jsonl(make_instruction_rows(200, seed=0), root / "train.jsonl")
    run = root / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as mp:
            spy = FromPretrainedSpy(mp)
            r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={data}",
                       "--set", f"model.name={folder}", "--set", "lora.target_modules=null",
                       "--set", "lora.modules_to_save=null", "--set", f"model.hub_token={TOKEN}",
                       "--set", "train.max_steps=6", "--set", "eval.steps=3", "--set", "train.save_steps=3")
    finally:
        torch.set_num_threads(threads)
    return SimpleNamespace(root=root, folder=folder, run=run, vocab=vocab, eos=eos, result=r, spy=spy)


def reference_model(local_run: SimpleNamespace) -> tuple[Any, Any]:
    """The fine-tuned model built here with plain transformers + PEFT: the folder's weights,
    embeddings resized for the run's tokenizer, the run's adapter on top."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(local_run.run / "adapter")
    base = AutoModelForCausalLM.from_pretrained(local_run.folder)
    base.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    return PeftModel.from_pretrained(base, local_run.run / "adapter").eval(), tok


def test_a_local_folder_trains_with_its_pad_token_replaced_and_automatic_targets(local_run):
    r = local_run.result
    assert r.returncode == 0, r.stdout + r.stderr
    run = local_run.run
    with RunStore(run) as s:
        assert s.state() == "finished"
        codes = {f.code for f in s.findings()}
        assert [m["step"] for m in s.metrics("eval")] == [3, 6]
    # The folder's pad == eos was replaced before the audit saw the data.
    assert "PAD_IS_EOS" not in codes and "PAD_IN_LABELS" not in codes

    # Automatic LoRA targets: GPT-J's attention projections, found from the folder's config.
    adapter_cfg = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter_cfg["target_modules"]) == GPTJ_TARGETS
    assert adapter_cfg["base_model_name_or_path"] == str(local_run.folder)

    # A pad token of its own, one past the folder's vocabulary; the embeddings grew to the
    # next multiple of 64, and the adapter carries them (PEFT saves resized embeddings).
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run / "adapter")
    assert (tok.pad_token, tok.pad_token_id, tok.eos_token_id) == ("<|pad|>", local_run.vocab, local_run.eos)
    rows = math.ceil((local_run.vocab + 1) / 64) * 64
    weights = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    assert tuple(weights["base_model.model.transformer.wte.weight"].shape) == (rows, 64)
    assert tuple(weights["base_model.model.lm_head.weight"].shape) == (rows, 64)


def test_the_hub_token_reaches_from_pretrained_and_nothing_else(local_run):
    folder = str(local_run.folder)
    spy = local_run.spy
    assert spy.tokens("AutoModelForCausalLM", folder) == [TOKEN]
    # The tokenizer, and the config read for the context length before any weights load.
    for who in ("AutoTokenizer", "AutoConfig"):
        assert spy.tokens(who, folder) and set(spy.tokens(who, folder)) == {TOKEN}, who
    # Redacted in the saved config; absent from every file of the run and from the output.
    assert "hub_token: '***'" in (local_run.run / "config.yaml").read_text()
    leaks = [str(p) for p in local_run.run.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    assert TOKEN not in local_run.result.stdout + local_run.result.stderr


def test_generate_and_merged_export_reload_the_adapter_onto_the_folder(local_run, tmp_path):
    model, tok = reference_model(local_run)
    enc = tok(PROMPT, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    expected = tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    r = invoke("generate", str(local_run.run), "What is 2 plus 3?", "--temperature", "0", "--max-new-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == expected.strip()

    merged_dir = tmp_path / "merged"
    r = invoke("export", str(local_run.run), "--out", str(merged_dir), "--merge")
    assert r.returncode == 0, r.stderr
    from transformers import AutoModelForCausalLM

    assert json.loads((merged_dir / "config.json").read_text())["vocab_size"] == math.ceil((local_run.vocab + 1) / 64) * 64
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    batch = tok([PROMPT + "2 plus 3 is 5.", PROMPT], return_tensors="pt", padding=True)
    with torch.no_grad():
        tuned = model(**batch).logits
        with model.disable_adapter():
            base = model(**batch).logits
        got = merged(**batch).logits
    assert torch.allclose(got, tuned, atol=1e-4)
    assert not torch.allclose(tuned, base, atol=1e-3)  # the adapter trained: merging it changed the model


def test_a_missing_or_empty_model_folder_is_one_line_and_exit_2(tmp_path, train_file):
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    for name, phrase in ((tmp_path / "no-such-folder", "does not exist"), (empty, "no model")):
        run = tmp_path / f"run-{Path(name).name}"
        r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={train_file}",
                   "--set", f"model.name={name}")
        assert r.returncode == 2, r.stdout + r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert str(name) in lines[0] and phrase in lines[0], lines[0]
        assert_failed_start(run, lines[0].removeprefix("error: "))  # recorded; the next try replaces it



def save_gpt2_gguf(folder: Path) -> tuple[Any, Any]:
    """A random-init GPT-2 and the tiny tokenizer written as one GGUF file (F32), the way
    llama.cpp's converter lays it out; returns (model, tokenizer) as they were written.

    Written by hand with the `gguf` package's writer because no installed library converts
    a transformers model to GGUF (llama.cpp's convert script is not part of `gguf`); the
    tensor names come from transformers' own GGUF map, so its loader reads them back."""
    import gguf
    import numpy as np
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, get_gguf_hf_weights_map

    from tuneguard.model.load import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=1024, n_embd=64, n_layer=2, n_head=4,
                                       bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)).eval()
    names = {hf: g for g, hf in get_gguf_hf_weights_map(model, TENSOR_PROCESSORS["gpt2"]()).items()}
    folder.mkdir(parents=True)
    w = gguf.GGUFWriter(str(folder / "tiny-gpt2.gguf"), "gpt2")
    w.add_context_length(1024)
    w.add_embedding_length(64)
    w.add_feed_forward_length(256)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_layer_norm_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    bpe = json.loads(tok.backend_tokenizer.to_str())["model"]
    tokens = [t for t, _ in sorted(bpe["vocab"].items(), key=lambda kv: kv[1])]
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t == tok.eos_token else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in bpe["merges"]])
    w.add_bos_token_id(tok.eos_token_id)
    w.add_eos_token_id(tok.eos_token_id)
    transposed = ("attn_qkv.weight", "ffn_down.weight", "ffn_up.weight", "attn_output.weight")  # GPT-2's Conv1D
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to the token embeddings
        arr = t.detach().numpy().astype(np.float32)
        w.add_tensor(names[name], arr.T.copy() if names[name].endswith(transposed) else arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model, tok


def test_a_gguf_file_in_a_folder_trains_and_its_adapter_reloads(tmp_path, train_file):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path / "gguf-model"
    written, _ = save_gpt2_gguf(folder)
    run = tmp_path / "run"
    with pytest.MonkeyPatch.context() as mp:
        spy = FromPretrainedSpy(mp)
        r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={train_file}",
                   "--set", f"model.name={folder}", "--set", "model.gguf_file=tiny-gpt2.gguf",
                   "--set", "lora.target_modules=null", "--set", "lora.modules_to_save=null",
                   "--set", "train.max_steps=4", "--set", "eval.steps=2", "--set", "train.save_steps=2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {kw.get("gguf_file") for who, n, kw in spy.calls if n == str(folder)} == {"tiny-gpt2.gguf"}
    adapter_cfg = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter_cfg["target_modules"]) == ["c_attn", "c_proj"]  # GPT-2's automatic targets

    # The file's weights, dequantised by transformers, are the ones written.
    base = AutoModelForCausalLM.from_pretrained(folder, gguf_file="tiny-gpt2.gguf").eval()
    ids = torch.tensor([[5, 17, 230, 44]])
    with torch.no_grad():
        assert torch.allclose(base(ids).logits, written(ids).logits, atol=1e-5)
    # generate reloads the adapter onto the GGUF's weights: the same text as built here.
    tok = AutoTokenizer.from_pretrained(run / "adapter")
    base.resize_token_embeddings(len(tok), pad_to_multiple_of=64)
    model = PeftModel.from_pretrained(base, run / "adapter").eval()
    enc = tok(PROMPT, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    r = invoke("generate", str(run), "What is 2 plus 3?", "--temperature", "0", "--max-new-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
