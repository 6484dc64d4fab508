"""The command that started a run, kept in its run store (meta `invocation`), and the exact
command that continues it: quoted for the shell, its overrides included, no secret."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tuneguard.catalog import render
from tuneguard.store.invocation import Invocation, resume_advice, resume_command, secret_keys, stored_invocation
from tuneguard.store.run_store import RunStore

TOKEN = "Zq7tokenVALUE0123456789"


def test_an_override_that_holds_a_secret_is_known_by_its_key() -> None:
    assert secret_keys(f'notify.urls=["json://host/hook/{TOKEN}"]') == ["notify.urls"]
    assert secret_keys(f"model.hub_token={TOKEN}") == ["model.hub_token"]
    assert secret_keys(f'notify={{urls: ["line://{TOKEN}/U1"], language: th}}') == ["notify.urls"]
    assert secret_keys(f"model={{name: gpt2, hub_token: {TOKEN}}}") == ["model.hub_token"]
    # A ${VAR} reference names the secret; it is not one.
    assert secret_keys('notify.urls=["${LINE_URL}"]') == [] and secret_keys("model.hub_token=${HF_TOKEN}") == []
    assert secret_keys("notify.language=th") == [] and secret_keys("train.max_steps=40") == []


def test_the_stored_invocation_leaves_secrets_out_and_keeps_everything_else(tmp_path: Path) -> None:
    sets = ["train.max_steps=40", f'notify.urls=["json://host/hook/{TOKEN}"]', 'notify.language=th',
            "data.train_file=my data.jsonl"]
    inv = Invocation.given("configs/base run.yaml", sets, force=True, cwd="/work/exp")
    assert inv.sets == ("train.max_steps=40", "notify.language=th", "data.train_file=my data.jsonl")
    assert inv.withheld == ("notify.urls",)
    # A secret the caller knows (a resolved ${VAR}) is left out under any key.
    assert Invocation.given("c.yaml", [f"trackers.note={TOKEN}"], secrets=[TOKEN], cwd="/x").withheld == ("trackers.note",)
    with RunStore(tmp_path, create=True) as s:
        s.init_run(config={}, max_steps=40, run_id="r")
        s.set_meta(invocation=inv.to_dict())
    raw = (tmp_path / "run.db").read_bytes()
    assert TOKEN.encode() not in raw and b"configs/base run.yaml" in raw
    assert stored_invocation(tmp_path) == inv


def test_the_resume_command_is_exact_and_quoted_for_the_shell() -> None:
    inv = Invocation.given("configs/base run.yaml", ["train.max_steps=40", 'notify.urls=["${LINE_URL}"]'],
                           force=True, cwd="/work/exp")
    assert resume_command(inv, "runs/a b", here="/work/exp") == (
        "tuneguard train 'configs/base run.yaml' --run-dir 'runs/a b' --set train.max_steps=40 "
        "--set 'notify.urls=[\"${LINE_URL}\"]' --force --resume auto")
    # From another directory the relative paths mean what they meant where the run started.
    assert resume_command(inv, "runs/a b", here="/home/me") == (
        "cd /work/exp && tuneguard train 'configs/base run.yaml' --run-dir '/home/me/runs/a b' "
        "--set train.max_steps=40 --set 'notify.urls=[\"${LINE_URL}\"]' --force --resume auto")
    preset = Invocation.given("tiny", [], cwd="/work/exp")
    assert render(resume_advice(preset, "/runs/t", here="/work/exp")) == \
        "`tuneguard train tiny --run-dir /runs/t --resume auto`"


def test_what_the_command_leaves_out_is_said_and_an_old_run_names_config() -> None:
    inv = Invocation.given("c.yaml", [f'notify.urls=["json://host/hook/{TOKEN}"]'], cwd="/w")
    text = render(resume_advice(inv, "runs/r", here="/w"))
    assert text == ("`tuneguard train c.yaml --run-dir runs/r --resume auto`, adding your --set notify.urls again as "
                    "you gave it (left out here: a secret is never shown)")
    assert TOKEN not in text
    assert render(resume_advice(inv, "runs/r", here="/w"), "th") == (
        "`tuneguard train c.yaml --run-dir runs/r --resume auto` แล้วเพิ่ม --set notify.urls ตามที่คุณใส่ไว้เดิม"
        "กลับเข้าไป (ไม่แสดงไว้ที่นี่ เพราะข้อมูลลับจะไม่ถูกแสดง)")
    assert render(resume_advice(None, "runs/r")) == (
        "`tuneguard train CONFIG --run-dir runs/r --resume auto`, with CONFIG the config the run was started with "
        "(a run this old does not record it)")


def test_a_store_from_before_has_no_invocation(tmp_path: Path) -> None:
    with RunStore(tmp_path, create=True) as s:
        s.init_run(config={}, max_steps=10, run_id="r")
    assert stored_invocation(tmp_path) is None
    assert stored_invocation(tmp_path / "nothing-here") is None
    assert Invocation.from_meta({"invocation": json.loads('{"cwd": "/x"}')}) is None


def test_next_train_gets_back_the_secrets_the_saved_config_redacts(tmp_path: Path) -> None:
    """config.yaml in a run directory reads `json://***`; the run started from it by `tuneguard
    next --train` notifies where the first run did: the secrets come back, in memory, from the
    config the first run was started with, and only where the redacted form matches."""
    from tuneguard.config.load import dump_yaml, load_config, redacted_dict
    from tuneguard.store.invocation import restore_secrets

    url = f"json://127.0.0.1:9/hook/{TOKEN}"
    (tmp_path / "train.jsonl").write_text('{"instruction": "a", "output": "b"}\n', "utf-8")
    (tmp_path / "mine.yaml").write_text(f"preset: tiny\ndata:\n  train_file: train.jsonl\nnotify:\n  urls: ['{url}']\n"
                                        f"model:\n  hub_token: {TOKEN}\n", "utf-8")
    started = Invocation.given("mine.yaml", ["train.max_steps=7"], cwd=str(tmp_path))
    saved = tmp_path / "config.yaml"
    saved.write_text(dump_yaml(redacted_dict(load_config(str(tmp_path / "mine.yaml")))), "utf-8")
    assert TOKEN not in saved.read_text("utf-8")

    cfg = load_config(str(saved))
    assert cfg.notify.urls == ["json://***"] and cfg.model.hub_token == "***"
    assert restore_secrets(cfg, started) == ["notify.urls", "model.hub_token"]
    assert cfg.notify.urls == [url] and cfg.model.hub_token == TOKEN
    assert TOKEN not in saved.read_text("utf-8")  # memory only

    # Nothing to restore from: a run recorded before the invocation was kept, a config that moved,
    # or one whose URLs changed since (another scheme) leaves the saved config as it is.
    for inv in (None, Invocation.given("gone.yaml", cwd=str(tmp_path))):
        cfg = load_config(str(saved))
        assert restore_secrets(cfg, inv) == [] and cfg.notify.urls == ["json://***"]
    (tmp_path / "mine.yaml").write_text(f"preset: tiny\ndata:\n  train_file: train.jsonl\nnotify:\n  urls: ['line://{TOKEN}/U1']\n",
                                        "utf-8")
    cfg = load_config(str(saved))
    assert restore_secrets(cfg, started) == [] and cfg.notify.urls == ["json://***"]


TORCHRUN_4 = {"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "4", "RANK": "0", "TORCHELASTIC_RUN_ID": "none"}


def test_a_launched_run_is_resumed_with_its_launcher(tmp_path: Path) -> None:
    torchrun = Invocation.given("my.yaml", ["train.max_steps=40"], cwd="/w", env=TORCHRUN_4)
    assert resume_command(torchrun, "runs/exp1", here="/w") == (
        "torchrun --nproc_per_node 4 -m tuneguard train my.yaml --run-dir runs/exp1 --set train.max_steps=40 "
        "--resume auto")
    # accelerate launch runs torchrun's agent itself: its own variables say which launcher it was.
    accelerate = Invocation.given("my.yaml", [], cwd="/w", env={**TORCHRUN_4, "ACCELERATE_MIXED_PRECISION": "bf16",
                                                                 "ACCELERATE_USE_FSDP": "true"})
    assert resume_command(accelerate, "runs/exp1", here="/w") == (
        "accelerate launch --multi_gpu --use_fsdp --num_processes 4 -m tuneguard train my.yaml --run-dir runs/exp1 "
        "--resume auto")
    # Two machines: the rendezvous options are not in the environment, and the advice says so.
    nodes = Invocation.given("my.yaml", [], cwd="/w", env={**TORCHRUN_4, "WORLD_SIZE": "8"})
    assert render(resume_advice(nodes, "/shared/r", here="/w")) == (
        "`torchrun --nnodes 2 --nproc_per_node 4 -m tuneguard train my.yaml --run-dir /shared/r --resume auto` on "
        "each of the 2 machines, with the rendezvous options you started it with (--rdzv-endpoint, or --node-rank "
        "and --master-addr; accelerate: --machine_rank and --main_process_ip)")
    # One process, also under a launcher: the plain command.
    for env in ({}, {"WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1", "TORCHELASTIC_RUN_ID": "x"}):
        plain = Invocation.given("my.yaml", [], cwd="/w", env=env)
        assert plain.launcher == () and resume_command(plain, "r", here="/w").startswith("tuneguard train my.yaml")
    with RunStore(tmp_path, create=True) as s:
        s.init_run(config={}, max_steps=40, run_id="r")
        s.set_meta(invocation=nodes.to_dict())
    assert stored_invocation(tmp_path) == nodes


def test_a_dead_torchrun_run_is_continued_with_torchrun(tmp_path: Path) -> None:
    """`tuneguard stop` on a run whose 4-process trainer is gone prints the launcher's command."""
    from tests.helpers.cli import invoke

    with RunStore(tmp_path, create=True) as s:
        s.init_run(config={}, max_steps=40, run_id="r")
        s.set_meta(invocation=Invocation.given("my.yaml", [], cwd=str(Path.cwd()), env=TORCHRUN_4).to_dict())
        s.set_meta(state="running", pid=2 ** 22 + 7, host=socket.gethostname())
    r = invoke("stop", str(tmp_path))
    assert r.returncode == 1
    assert (f"continue it with `torchrun --nproc_per_node 4 -m tuneguard train my.yaml --run-dir {tmp_path} "
            "--resume auto`") in " ".join(r.stderr.split()), r.stderr
