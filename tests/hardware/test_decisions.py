"""The hardware decisions, each a pure function of a card's properties, with the properties of
the cards users have: a T4 (Colab's free GPU: sm75, 15 GB, no native bf16), an L4 (sm89,
24 GB), an A100 (sm80, 40 or 80 GB) and an H100 (sm90, 80 GB). Then the recipe refusing
before any weights load, with the card given through `DeviceProps.detect`."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import GPTJConfig

from tuneguard.config.load import load_config
from tuneguard.train import perf
from tuneguard.model.device import (
    DeviceProps,
    check_one_process,
    choose_precision,
    launch_lines,
    load_device_map,
)
from tuneguard.train.memfit import check_fit, measure_model, oom_message

T4 = DeviceProps("cuda", "Tesla T4", 15_828_320_256, 7, 5, 1)
L4 = DeviceProps("cuda", "NVIDIA L4", 24_152_899_584, 8, 9, 1)
A100_40 = DeviceProps("cuda", "NVIDIA A100-SXM4-40GB", 42_298_834_944, 8, 0, 1)
A100_80 = DeviceProps("cuda", "NVIDIA A100-SXM4-80GB", 85_051_572_224, 8, 0, 1)
H100 = DeviceProps("cuda", "NVIDIA H100 80GB HBM3", 85_520_809_984, 9, 0, 1)
CPU = DeviceProps()


# --- precision ---------------------------------------------------------------------------

def test_auto_precision_is_fp16_with_a_note_on_a_t4_and_bf16_from_ampere_on():
    t4 = choose_precision("auto", T4)
    assert t4.dtype == "fp16" and t4.torch_dtype == torch.float16
    assert "Tesla T4 (sm75) has no native bf16" in t4.note and "--set model.dtype=fp32" in t4.note
    # In a Thai run's language too (the note `tuneguard train` prints), from the catalog.
    from tests.thai_sentences import english_sentences, kept_in_english

    th = t4.note_in("th")
    assert th == ("Tesla T4 (sm75) ไม่รองรับ bf16 โดยตรง (GPU จะจำลอง bf16 ซึ่งช้ากว่าหลายเท่า) จึงฝึกด้วย fp16 และใช้ "
                  "loss scaler: step ที่ค่าล้นจะถูกข้ามและการรันทำงานต่อ ถ้าต้องการความแม่นยำเต็มแทน: --set model.dtype=fp32")
    assert english_sentences(th.replace("Tesla T4 (sm75)", "GPU"), kept_in_english()) == []
    emulated = choose_precision("bf16", T4).note_in("th")
    assert emulated is not None and emulated.startswith("ตั้ง model.dtype เป็น bf16 แต่ Tesla T4 (sm75) ไม่รองรับ bf16 โดยตรง")
    assert english_sentences(emulated.replace("Tesla T4 (sm75)", "GPU"), kept_in_english()) == []
    assert choose_precision("auto", CPU).note_in("th") is None
    for card in (L4, A100_40, A100_80, H100):
        p = choose_precision("auto", card)
        assert (p.dtype, p.note) == ("bf16", None), card.name
    assert choose_precision("auto", CPU) == choose_precision("fp32", CPU)
    assert choose_precision("auto", CPU).dtype == "fp32"


def test_configured_bf16_on_a_t4_is_kept_but_named_slow():
    p = choose_precision("bf16", T4)  # the GPT-J presets say bf16
    assert p.dtype == "bf16" and "emulated" in p.note and "--set model.dtype=fp16" in p.note
    assert choose_precision("bf16", A100_40).note is None
    assert choose_precision("fp16", T4) .note is None and choose_precision("fp32", H100).dtype == "fp32"


# --- one process, several GPUs -----------------------------------------------------------

def test_one_process_on_several_gpus_is_refused_with_the_launch_lines():
    two_t4 = DeviceProps("cuda", "Tesla T4", 15_828_320_256, 7, 5, 2)  # a Kaggle "T4 x2"
    argv = ["tuneguard", "train", "my run.yaml", "--set", "train.max_steps=10"]
    msg = check_one_process(1, two_t4, argv)
    assert "this machine has 2 GPUs" in msg and "nn.DataParallel" in msg
    assert "torchrun --nproc_per_node 2 -m tuneguard train 'my run.yaml' --set train.max_steps=10" in msg
    assert "CUDA_VISIBLE_DEVICES=0 tuneguard train 'my run.yaml' --set train.max_steps=10" in msg
    assert check_one_process(2, two_t4, argv) is None  # torchrun: one process per GPU
    assert check_one_process(1, T4, argv) is None and check_one_process(1, CPU, argv) is None
    assert launch_lines(two_t4, [])[0] == "torchrun --nproc_per_node 2 -m tuneguard train CONFIG"


def test_weights_load_straight_onto_the_process_gpu_unless_sharded():
    assert load_device_map(A100_80, 0, sharded=False) == {"": 0}
    assert load_device_map(A100_80, 3, sharded=False) == {"": 3}  # torchrun's LOCAL_RANK 3
    assert load_device_map(A100_80, 0, sharded=True) is None  # FSDP / ZeRO-3 place the weights
    assert load_device_map(CPU, 0, sharded=False) is None


# --- memory fit --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gptj6b():
    """Parameter counts of GPT-J-6B (GPTJConfig's defaults) with the v2 preset's LoRA."""
    cfg = load_config("gptj-6b-v2", [])
    return measure_model(cfg, GPTJConfig())


def fit(card: DeviceProps, size, *settings: str):
    cfg = load_config("gptj-6b-v2", list(settings))
    dtype = choose_precision(cfg.model.dtype, card).torch_dtype
    return check_fit(cfg, size, card, dtype_bytes=dtype.itemsize, seq_len=512)


def test_gptj_counts_from_the_config_alone(gptj6b):
    assert gptj6b.params == 6_050_882_784  # GPT-J-6B
    assert gptj6b.quantizable == 28 * (4 * 4096 * 4096 + 2 * 4096 * 16384)  # every Linear but the LM head
    assert gptj6b.lora_params == 28 * 4 * 16 * (4096 + 4096)  # r 16 on q, k, v, out
    assert (gptj6b.attention, gptj6b.chunked_loss, gptj6b.fused_gelu) == ("sdpa", True, True)


def test_gpt2_conv1d_layers_count_as_linear_for_lora_and_quantisation():
    """GPT-2 keeps its linear layers as transformers' Conv1D: LoRA (c_attn, c_proj) adapts them
    and bitsandbytes quantises them, so the estimate must count them too."""
    from transformers import GPT2Config

    cfg = load_config("gptj-6b-v2", ["lora.target_modules=null"])
    size = measure_model(cfg, GPT2Config())  # GPT-2 small: 12 layers of width 768
    per_layer = 768 * 3 * 768 + 768 * 768 + 2 * 768 * 3072  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    assert size.quantizable == 12 * per_layer
    # r 16 on c_attn (768 -> 2304) and on both c_proj (attention 768 -> 768, MLP 3072 -> 768).
    assert size.lora_params == 12 * 16 * ((768 + 2304) + (768 + 768) + (3072 + 768))


def test_v2_preset_on_a_t4_is_refused_before_loading_with_4bit_first(gptj6b):
    f = fit(T4, gptj6b)
    assert not f.fits and f.checkpointing  # even with gradient checkpointing
    assert 13.0 < f.peak_gb < 14.5 and 12.0 < f.usable_gb < 13.0
    assert [x.settings for x in f.fixes][0] == ["model.load_in_4bit=true"]
    assert all(x.peak_gb <= f.usable_gb for x in f.fixes)
    assert ["train.batch_size=1", "train.gradient_accumulation_steps=32"] in [x.settings for x in f.fixes]
    text = f.refusal()
    assert text.startswith("EleutherAI/gpt-j-6b will not fit the Tesla T4 (sm75, 14.7 GB): estimated peak 13.")
    assert "Fix with one of: --set model.load_in_4bit=true (est. " in text
    assert "--set train.batch_size=1 --set train.gradient_accumulation_steps=32 (est. " in text
    assert "To try anyway: --set train.memory_budget_gb=" in text
    # The first fix is one that fits: the 4-bit estimate on the same card.
    assert fit(T4, gptj6b, "model.load_in_4bit=true").fits


def test_v2_preset_fits_a100_and_h100_without_checkpointing(gptj6b):
    for card in (A100_40, A100_80, H100):
        f = fit(card, gptj6b)
        assert f.fits and not f.checkpointing and f.fixes == [], card.name
        assert 20 < f.peak_gb < 25
    assert fit(L4, gptj6b).checkpointing  # 24 GB: fits only with gradient checkpointing ("auto")


def test_checkpointing_turned_off_on_a_24gb_card_names_auto_first(gptj6b):
    f = fit(L4, gptj6b, "model.gradient_checkpointing=false")
    assert not f.fits and not f.checkpointing
    assert f.fixes[0].settings == ["model.gradient_checkpointing=auto"]
    assert "model.load_in_4bit=true" not in f.fixes[0].line()  # not below 24 GB: weights fit in bf16
    assert fit(L4, gptj6b, "train.memory_budget_gb=40", "model.gradient_checkpointing=false").fits  # "try anyway"


def test_out_of_memory_names_changes_below_the_estimate(gptj6b):
    f = fit(A100_40, gptj6b)
    cfg = load_config("gptj-6b-v2", [])
    msg = oom_message(f, cfg, 17)
    assert msg.startswith("out of GPU memory at step 17 on the NVIDIA A100-SXM4-40GB (sm80, 39.4 GB) (estimated peak ")
    # "auto" left checkpointing off (the estimate fit): turning it on is the first fix.
    assert "Fix with one of: --set model.gradient_checkpointing=true (est. " in msg
    assert "--set train.batch_size=2 --set train.gradient_accumulation_steps=16" in msg
    no_estimate = oom_message(None, cfg, None)
    assert no_estimate.startswith("out of GPU memory: to fit, ") and "--set model.load_in_4bit=true" in no_estimate


def test_padding_free_runs_are_estimated_as_one_row_of_the_longest_examples(gptj6b):
    """`train.padding_free: true`: a micro-batch is one row of its examples' real tokens, so the
    estimate takes the batch_size longest examples together (4 of 300, 250, 200, 150 here:
    900 tokens), not batch x the longest padded (4 x 304); sdpa (configured) also keeps the
    mask over the whole row (one byte per pair of its tokens)."""
    cfg = load_config("gptj-6b-v2", ["train.padding_free=true", "model.gradient_checkpointing=false"])
    size = measure_model(cfg, GPTJConfig())
    assert (size.padding_free, size.attention) == (True, "sdpa")
    assert measure_model(load_config("gptj-6b-v2", []), GPTJConfig()).padding_free is False  # auto: off until measured
    dtype = choose_precision(cfg.model.dtype, H100).torch_dtype
    lengths = [150, 300, 20, 250, 200, 90]
    packed = check_fit(cfg, size, H100, dtype_bytes=dtype.itemsize, seq_len=304, longest=lengths)
    kw = dict(attention="sdpa", checkpointing=False, chunked_loss=True, fused_gelu=True)
    weights = (packed.peak_gb * perf.GB - perf.activation_bytes(size.shape, 1, 900, packed=True, **kw))
    padded = check_fit(load_config("gptj-6b-v2", ["model.gradient_checkpointing=false"]), gptj6b, H100,
                       dtype_bytes=dtype.itemsize, seq_len=304)
    assert padded.peak_gb * perf.GB == pytest.approx(weights + perf.activation_bytes(size.shape, 4, 304, **kw))
    assert packed.peak_gb < padded.peak_gb and packed.as_dict()["padding_free_row_tokens"] == 900
    # Every example at max_length: the same tokens as padded, plus the row's mask, 2048 x 2048
    # bytes once and in 16 bits in each of the 28 layers.
    full = check_fit(cfg, size, H100, dtype_bytes=dtype.itemsize, seq_len=512, longest=[512] * 9)
    unpacked = check_fit(load_config("gptj-6b-v2", ["model.gradient_checkpointing=false"]), gptj6b, H100,
                         dtype_bytes=dtype.itemsize, seq_len=512)
    assert (full.peak_gb - unpacked.peak_gb) * perf.GB == pytest.approx(2048 * 2048 * (1 + 2 * 28))
    # Eager attention's scores over a 3,072-token row (6 x 512) do not fit a 40 GB card where
    # padded batches of 6 x 512 would: the refusal says the row and names padded batches as a fix.
    sets = ["train.padding_free=true", "model.attn_implementation=eager", "model.gradient_checkpointing=false",
            "train.batch_size=6"]
    eager = load_config("gptj-6b-v2", sets)
    f = check_fit(eager, measure_model(eager, GPTJConfig()), A100_40, dtype_bytes=dtype.itemsize, seq_len=512,
                  longest=[512] * 6)
    assert not f.fits and "without gradient checkpointing, padding-free rows of up to 3,072 tokens" in f.refusal()
    padded_eager = load_config("gptj-6b-v2", sets[1:])
    p = check_fit(padded_eager, measure_model(padded_eager, GPTJConfig()), A100_40, dtype_bytes=dtype.itemsize,
                  seq_len=512)
    assert p.fits and f"--set train.padding_free=false (est. {p.peak_gb:.1f} GB; padded batches)" in f.refusal()


# --- the recipe: refusals before any weights load ----------------------------------------

def gptj6b_folder(tmp_path):
    """A GPT-J-6B model folder with its config and a tokenizer, and no weights: a run that
    tried to load it would fail differently."""
    from tuneguard.model.load import build_tiny_tokenizer

    folder = tmp_path / "gptj-6b"
    GPTJConfig().save_pretrained(folder)
    build_tiny_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture
def card(monkeypatch):
    def use(props: DeviceProps) -> None:
        monkeypatch.setattr(DeviceProps, "detect", classmethod(lambda cls, use_cpu=False, index=0: props))
    return use


def run_train(config, run_dir, *settings):
    from typer.testing import CliRunner

    from tuneguard.cli.main import app

    args = ["train", str(config), "--run-dir", str(run_dir)]
    for s in settings:
        args += ["--set", s]
    return CliRunner().invoke(app, args)


def long_rows(path, n: int = 40):
    """Rows longer than data.max_length (512 tokens): the widest batch is 512 wide."""
    import random

    from tuneguard.model.load import _TINY_WORDS

    rng = random.Random(0)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"instruction": f"Tell story {i}.",
                                "output": " ".join(rng.choice(_TINY_WORDS) for _ in range(700))}) + "\n")
    return path


def test_train_on_a_t4_refuses_the_v2_preset_before_loading(tmp_path, card):
    card(T4)
    run = tmp_path / "run"
    data = long_rows(tmp_path / "long.jsonl")
    r = run_train("gptj-6b-v2", run, f"model.name={gptj6b_folder(tmp_path)}", f"data.train_file={data}")
    out = r.output
    assert r.exit_code == 2, out
    assert "will not fit the Tesla T4" in out and "--set model.load_in_4bit=true (est." in out
    assert "bf16 is emulated" not in out or "--set model.dtype=fp16" in out
    assert "Traceback" not in out and "cannot load" not in out  # refused before loading
    assert not (run / "run.db").exists() and not (run / "checkpoints").exists()


def test_train_refuses_with_the_padding_free_row_its_data_can_build(tmp_path, card):
    """The recipe hands the longest examples to the fit: two examples cut at 512 tokens and the
    two longest of the short ones make the row (not 4 x 512)."""
    from tuneguard.train.build import load_tokenizer_and_data

    card(T4)
    data = long_rows(tmp_path / "long.jsonl", n=2)
    with open(data, "a", encoding="utf-8") as f:
        for i in range(30):
            f.write(json.dumps({"instruction": f"Say {i}.", "output": " ".join(["hello world"] * (5 + i))}) + "\n")
    sets = [f"model.name={gptj6b_folder(tmp_path)}", f"data.train_file={data}", "train.padding_free=true"]
    _, prepared = load_tokenizer_and_data(load_config("gptj-6b-v2", sets))
    row = sum(sorted((len(f["input_ids"]) for f in prepared.train.features), reverse=True)[:4])
    assert 1024 < row < 2048
    r = run_train("gptj-6b-v2", tmp_path / "run", *sets)
    assert r.exit_code == 2, r.output
    assert f"padding-free rows of up to {row:,} tokens" in " ".join(r.output.split())


def test_train_as_one_process_on_two_gpus_is_refused(tmp_path, train_file, card):
    card(DeviceProps("cuda", "NVIDIA A100-SXM4-80GB", 85_051_572_224, 8, 0, 2))
    run = tmp_path / "run"
    r = run_train("tiny", run, f"data.train_file={train_file}")
    assert r.exit_code == 2, r.output
    assert "torchrun --nproc_per_node 2 -m tuneguard train" in r.output and "CUDA_VISIBLE_DEVICES=0" in r.output
    assert not (run / "run.db").exists()


# --- what the plan and the loaders do with the decisions ----------------------------------

def test_chunked_loss_is_off_when_fsdp_or_zero3_shard_the_head(tmp_path, monkeypatch):
    cfg = load_config("gptj-6b-v2", [])
    with torch.device("meta"):
        from transformers import AutoModelForCausalLM

        m = AutoModelForCausalLM.from_config(GPTJConfig(n_layer=1))
    assert perf.choose_chunked_loss(cfg, m)[0]
    fsdp = load_config("gptj-6b-v2", ["train.fsdp=full_shard auto_wrap"])
    on, why = perf.choose_chunked_loss(fsdp, m)
    assert not on and "FSDP shards the LM head" in why
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    on, why = perf.choose_chunked_loss(load_config("gptj-6b-v2", [f"train.deepspeed={ds}"]), m)
    assert not on and "DeepSpeed ZeRO-3" in why
    ds.write_text(json.dumps({"zero_optimization": {"stage": 2}}))
    assert perf.choose_chunked_loss(load_config("gptj-6b-v2", [f"train.deepspeed={ds}"]), m)[0]
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # accelerate launch --config_file deepspeed-zero3.yaml
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert not perf.choose_chunked_loss(cfg, m)[0]
