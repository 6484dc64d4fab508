"""The architectures people fine-tune, each from a local folder as a user brings it
(tests/helpers/zoo.py): `tuneguard train` with the automatic LoRA targets, and the tokenizer
shapes that bite (a BOS added by default, a chat template that writes the BOS itself, an
end-of-turn stop token next to EOS, no EOS at all).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers.cli import assert_failed_start, invoke
from tests.helpers.threads import one_torch_thread
from tests.helpers.zoo import ARCHITECTURES, CHATML, save_model, tokenizer
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.store.run_store import RunStore

# The attention projections of each architecture: from tuneguard's table, or (the models it
# does not list) found in the module tree. Never a guess that names modules the model lacks.
ATTENTION = ["k_proj", "o_proj", "q_proj", "v_proj"]
EXPECTED_TARGETS = {
    "gptj": ["k_proj", "out_proj", "q_proj", "v_proj"], "gpt_neox": ["dense", "query_key_value"],
    "llama": ATTENTION, "mistral": ATTENTION, "qwen2": ATTENTION, "qwen3": ATTENTION, "gemma": ATTENTION,
    "gemma2": ATTENTION, "gemma3_text": ATTENTION, "phi": ["dense", "k_proj", "q_proj", "v_proj"],
    "phi3": ["o_proj", "qkv_proj"], "gpt2": ["c_attn", "c_proj"], "opt": ["k_proj", "out_proj", "q_proj", "v_proj"],
    "falcon": ["dense", "query_key_value"], "bloom": ["dense", "query_key_value"], "stablelm": ATTENTION,
    "olmo": ATTENTION, "olmo2": ATTENTION, "gpt_neo": ["k_proj", "out_proj", "q_proj", "v_proj"],
    "codegen": ["out_proj", "qkv_proj"], "granite": ATTENTION, "starcoder2": ATTENTION, "mixtral": ATTENTION,
}
STEPS = ["--set", "lora.target_modules=null", "--set", "lora.modules_to_save=null", "--set", "train.max_steps=2",
         "--set", "eval.steps=2", "--set", "train.save_steps=2", "--set", "model.attn_implementation=auto"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(make_instruction_rows(64, seed=0), tmp_path_factory.mktemp("zoo-data") / "train.jsonl")


@pytest.fixture(autouse=True)
def one_thread():
    with one_torch_thread():
        yield


def test_every_architecture_data_set_is_the_expected_one():
    assert sorted(EXPECTED_TARGETS) == sorted(ARCHITECTURES)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_each_architecture_trains_from_a_folder_with_lora_on_its_attention(arch, data, tmp_path):
    folder, run = tmp_path / arch, tmp_path / "run"
    save_model(arch, folder, tokenizer("plain"))
    r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={data}",
               "--set", f"model.name={folder}", *STEPS)
    assert r.returncode == 0, r.stdout + r.stderr
    with RunStore(run) as s:
        assert s.state() == "finished"
        assert [m["step"] for m in s.metrics("eval")] == [2]
        assert [f.code for f in s.findings() if f.severity == "error"] == []
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert sorted(adapter["target_modules"]) == EXPECTED_TARGETS[arch]


def test_lora_names_the_linear_layers_when_a_target_is_not_there():
    from transformers import AutoConfig, AutoModelForCausalLM

    from tuneguard.config.schema import Config
    from tuneguard.model.load import ModelError, apply_lora

    conf = AutoConfig.for_model("phi3", vocab_size=64, pad_token_id=None, bos_token_id=0, eos_token_id=0,
                                **ARCHITECTURES["phi3"])
    model = AutoModelForCausalLM.from_config(conf)
    cfg = Config.model_validate({"model": {"name": "my-phi3"}, "data": {"train_file": "x.jsonl"},
                                 "lora": {"target_modules": ["q_proj", "v_proj"]}})
    with pytest.raises(ModelError) as err:
        apply_lora(model, cfg)
    assert str(err.value) == ("lora.target_modules ['q_proj', 'v_proj'] are not modules of my-phi3; its linear "
                              "layers: down_proj, gate_up_proj, o_proj, qkv_proj")


def bos_chat_tokenizer():
    """Llama 3 / Gemma style: BOS added by the tokenizer, and written by the chat template too;
    the turn ends with <|im_end|>, which is not the EOS."""
    tok = tokenizer("bos")
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = "{{ bos_token }}" + CHATML
    return tok


def test_a_template_that_writes_the_bos_gets_one_bos_not_two():
    from tuneguard.config.schema import DataConfig
    from tuneguard.data.formats import Row, to_examples
    from tuneguard.data.tokenize import IGNORE_INDEX, tokenize_examples

    tok = bos_chat_tokenizer()
    rows = [Row({"messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]},
                "chat.jsonl", 1)]
    examples, problems = to_examples(rows, "chat", DataConfig(train_file="chat.jsonl"), tok)
    assert problems == []
    (feat,), _ = tokenize_examples(tok, examples, 128)
    prompt = tok("<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    answer = tok("hello<|im_end|>\n", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert feat["input_ids"] == [tok.bos_token_id] + prompt + answer
    assert feat["labels"] == [IGNORE_INDEX] * (1 + len(prompt)) + answer

    # Text without the BOS (the instruction template) still gets the tokenizer's own.
    plain, _ = tokenize_examples(tok, [examples[0].__class__("Q: 1?\nA:", " 1", "x", 1)], 128)
    assert plain[0]["input_ids"][:2] == [tok.bos_token_id, tok("Q", add_special_tokens=False)["input_ids"][0]]


def test_a_sentencepiece_answer_has_the_tokens_it_has_after_the_prompt():
    """Tokenized alone, "The sum is 5." starts with "\u2581The" (a word start); after the prompt's
    newline the same text is "T", "he": training must supervise the tokens generation produces."""
    from tuneguard.data.formats import Example
    from tuneguard.data.tokenize import IGNORE_INDEX, tokenize_examples

    tok = tokenizer("spm")
    prompt, answer = "### Instruction:\nWhat is 2 plus 3?\n\n### Response:\n", "The sum is 5."
    alone = tok.convert_ids_to_tokens(tok(answer, add_special_tokens=False)["input_ids"])
    assert alone[0] == "\u2581The"
    (feat,), _ = tokenize_examples(tok, [Example(prompt, answer, "x", 1)], 128)
    joint = tok(prompt + answer)["input_ids"]  # <s> and the whole text, as one
    assert feat["input_ids"] == joint + [tok.eos_token_id]
    supervised = [t for t, lab in zip(feat["input_ids"], feat["labels"], strict=True) if lab != IGNORE_INDEX]
    assert tok.convert_ids_to_tokens(supervised) == ["T", "he", "\u2581sum", "\u2581is", "\u25815", ".", "</s>"]
    assert feat["labels"][: len(joint) - len(supervised) + 1] == [IGNORE_INDEX] * (len(joint) - len(supervised) + 1)


@pytest.fixture(scope="module")
def gemma_chat_run(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A Gemma folder with the BOS-and-template tokenizer and a generation config that stops
    at the end-of-turn token as well as EOS (as Gemma's and Llama 3's do), trained 2 steps on
    chat rows."""
    root = tmp_path_factory.mktemp("gemma-chat")
    data = write_jsonl([{"messages": [{"role": "user", "content": r["instruction"] + " " + r.get("input", "")},
                                      {"role": "assistant", "content": r["output"]}]}
                        for r in make_instruction_rows(64, seed=0)], root / "chat.jsonl")
    tok = bos_chat_tokenizer()
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    folder = root / "gemma-it"
    save_model("gemma", folder, tok)
    gen = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**gen, "eos_token_id": [tok.eos_token_id, eot]}))
    run = root / "run"
    with one_torch_thread():
        r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={data}",
                   "--set", f"model.name={folder}", *STEPS)
    assert r.returncode == 0, r.stdout + r.stderr
    return SimpleNamespace(root=root, run=run, tok=tok, eot=eot)


@pytest.mark.slow
def test_generate_feeds_the_bos_training_saw_and_stops_at_end_of_turn(gemma_chat_run, monkeypatch):
    from transformers import GenerationMixin

    seen: list[dict] = []
    real = GenerationMixin.generate

    def spy(self, *args, **kwargs):
        seen.append({"ids": kwargs["input_ids"][0].tolist(), "eos": kwargs.get("eos_token_id")})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", spy)
    r = invoke("generate", str(gemma_chat_run.run), "hi there", "--max-new-tokens", "2", "--temperature", "0")
    assert r.returncode == 0, r.stderr
    tok = gemma_chat_run.tok
    prompt = tok("<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)
    assert seen == [{"ids": [tok.bos_token_id] + prompt["input_ids"], "eos": [tok.eos_token_id, gemma_chat_run.eot]}]


@pytest.mark.slow
def test_a_merged_export_keeps_the_end_of_turn_stop_token(gemma_chat_run):
    out = gemma_chat_run.root / "merged"
    r = invoke("export", str(gemma_chat_run.run), "--out", str(out), "--merge")
    assert r.returncode == 0, r.stderr
    gen = json.loads((out / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [gemma_chat_run.tok.eos_token_id, gemma_chat_run.eot]


def test_a_tokenizer_without_eos_is_one_line_that_says_how_to_fix_it(data, tmp_path):
    folder = tmp_path / "no-eos"
    tok = tokenizer("no_eos")
    folder.mkdir()
    tok.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    r = invoke("audit", "tiny", "--set", f"data.train_file={data}", "--set", f"model.name={folder}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: the tokenizer of {folder} has no EOS token, which tuneguard appends to every answer to teach the "
        "model to stop: give it one (tokenizer.eos_token = '</s>' or a token it has, then "
        "tokenizer.save_pretrained(FOLDER)) and point model.name at that folder"]


def test_an_encoder_decoder_folder_is_refused_before_training_in_one_line(data, tmp_path):
    from transformers import T5Config, T5ForConditionalGeneration

    folder, run = tmp_path / "my-t5", tmp_path / "run"
    tok = tokenizer("plain")
    T5ForConditionalGeneration(T5Config(vocab_size=len(tok), d_model=32, num_layers=1, num_heads=2, d_ff=64,
                                        d_kv=16)).save_pretrained(folder)
    tok.save_pretrained(folder)
    line = (f"error: model.name {folder} is a t5 model, which transformers cannot load as a causal language model "
            "(AutoModelForCausalLM): tuneguard fine-tunes decoder-only models such as GPT-J, Llama, Mistral, Qwen "
            "or Gemma; point model.name at one of those")
    for cmd in (["train", "tiny", "--run-dir", str(run)], ["plan", "tiny"]):
        r = invoke(*cmd, "--set", f"data.train_file={data}", "--set", f"model.name={folder}")
        assert r.returncode == 2, r.stdout + r.stderr
        assert [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("INFO")] == [line]
    assert_failed_start(run, line.removeprefix("error: "))


def test_a_bert_folder_is_refused_before_training_in_one_line(data, tmp_path):
    """BertLMHeadModel loads without complaint, but its attention sees the whole text: as a
    causal LM each position sees the token it predicts and the loss falls to nothing."""
    from transformers import BertConfig, BertForMaskedLM

    folder, run = tmp_path / "my-bert", tmp_path / "run"
    tok = tokenizer("plain")
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(folder)
    tok.save_pretrained(folder)
    r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={data}",
               "--set", f"model.name={folder}")
    assert r.returncode == 2, r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("INFO")]
    assert len(lines) == 1 and lines[0].startswith(f"error: model.name {folder} is a bert model, an encoder whose "
                                                   "attention sees the whole text")
    assert_failed_start(run, lines[0].removeprefix("error: "))


@pytest.mark.slow
def test_a_sentencepiece_llama_pads_with_its_unknown_token_and_saves_no_embeddings(data, tmp_path):
    """No pad token and a vocabulary that fills the embeddings (Llama 2, Mistral): the unknown
    token pads, so the embeddings keep their size and the adapter holds only the LoRA weights."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    folder, run = tmp_path / "llama-2-like", tmp_path / "run"
    save_model("llama", folder, tokenizer("spm"))
    r = invoke("train", "tiny", "--run-dir", str(run), "--set", f"data.train_file={data}",
               "--set", f"model.name={folder}", *STEPS)
    assert r.returncode == 0, r.stdout + r.stderr
    tok = AutoTokenizer.from_pretrained(run / "adapter")
    assert (tok.pad_token, tok.pad_token_id) == ("<unk>", 0) and tok.eos_token_id != 0
    weights = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    assert weights and all("lora_" in name for name in weights), sorted(weights)[:4]
