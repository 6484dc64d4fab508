"""The shipped launch configs (configs/) and the distributed config keys, without launching."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tuneguard.config.load import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


def test_accelerate_configs_launch_several_processes_and_avoid_the_multi_cpu_trap():
    kinds = {"ddp.yaml": "MULTI_GPU", "ddp-multinode.yaml": "MULTI_GPU", "fsdp.yaml": "FSDP",
             "deepspeed-zero2.yaml": "DEEPSPEED", "deepspeed-zero3.yaml": "DEEPSPEED"}
    assert {p.name for p in ACCELERATE} == set(kinds)
    for path in ACCELERATE:
        cfg = yaml.safe_load(path.read_text("utf-8"))
        # Never MULTI_CPU: it runs one process without saying so (docs/DISTRIBUTED.md).
        assert cfg["distributed_type"] == kinds[path.name], path.name
        assert cfg["num_processes"] >= 2 and cfg["use_cpu"] is False, path.name
        assert cfg["mixed_precision"] == "no", path.name  # tuneguard's model.dtype decides
    multinode = yaml.safe_load((ROOT / "configs/accelerate/ddp-multinode.yaml").read_text("utf-8"))
    assert multinode["num_machines"] == 2 and multinode["main_process_ip"] and multinode["main_process_port"]
    fsdp = yaml.safe_load((ROOT / "configs/accelerate/fsdp.yaml").read_text("utf-8"))["fsdp_config"]
    assert fsdp["fsdp_transformer_layer_cls_to_wrap"] == "GPTJBlock" and fsdp["fsdp_version"] == 2
    zero3 = yaml.safe_load((ROOT / "configs/accelerate/deepspeed-zero3.yaml").read_text("utf-8"))["deepspeed_config"]
    assert zero3["zero_stage"] == 3 and zero3["zero3_save_16bit_model"] is True


def test_fsdp_gptj_config_reaches_the_trainer_as_an_fsdp2_plugin(tmp_path):
    from tuneguard.train.build import training_arguments

    cfg = load_config(str(ROOT / "configs" / "fsdp-gptj-6b.yaml"), [])
    assert cfg.model.name == "EleutherAI/gpt-j-6b" and cfg.lora.r == 8  # the v1 recipe underneath
    assert cfg.train.ddp_timeout == 1800
    args = training_arguments(cfg, tmp_path, use_cpu=True)
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 2
    assert plugin["transformer_cls_names_to_wrap"] == "GPTJBlock"
    assert plugin["state_dict_type"] == "FULL_STATE_DICT"
    assert args.ddp_timeout == 1800 and args.run_name == tmp_path.name


def test_fsdp_and_deepspeed_are_exclusive():
    with pytest.raises(ConfigError) as exc:
        load_config("tiny", ["train.fsdp=full_shard", "train.deepspeed=ds.json"])
    assert "train.fsdp and train.deepspeed are exclusive" in str(exc.value.problems)


def test_distributed_defaults():
    cfg = load_config("tiny", [])
    assert (cfg.train.ddp_timeout, cfg.train.control_every_steps, cfg.train.fsdp, cfg.train.deepspeed) == \
        (1800, 1, None, None)
