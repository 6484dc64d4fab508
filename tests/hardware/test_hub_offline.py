"""A hub model id that is not cached, with the hub out of reach (HF_HUB_OFFLINE, or no route),
fails at once with one line naming the id and the fix, instead of transformers' five retries
per file (half a minute or more) and a message about cached files."""

from __future__ import annotations

import pytest

from tests.helpers.cli import cli, tiny_config
from tests.helpers.reliability import train_inproc
from tuneguard.model.hub import hub_problem, is_hub_id

FIX = ("check the id, set model.name to a local folder saved with save_pretrained, or download the model "
       "first (with network access, and a token in HF_TOKEN or model.hub_token for a gated model)")


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def test_offline_mode_names_the_id_and_the_fix(tmp_path, train_file, monkeypatch, capsys, no_proxy):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    cfg = tiny_config(tmp_path, train_file)
    assert train_inproc(cfg, tmp_path / "run", "model.name=nobody/no-such-model") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err == (f"error: model 'nobody/no-such-model' is not in the local Hugging Face cache ({tmp_path}/hf-cache) "
                   f"and HF_HUB_OFFLINE is set, so it cannot be downloaded: {FIX}")


def test_no_route_to_the_hub_fails_without_retries(tmp_path, train_file, no_proxy):
    """A real process, with the hub at a local port nothing listens on (the network is not
    needed, and a reachable hub elsewhere cannot change the answer); bounded by its timeout."""
    cfg = tiny_config(tmp_path, train_file)
    env = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hf-cache")}
    r = cli("train", str(cfg), "--run-dir", str(tmp_path / "run"), "--set", "model.name=nobody/no-such-model",
            env=env, timeout=180)
    assert r.returncode == 2, r.stderr
    assert "Retrying" not in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: model 'nobody/no-such-model' is not in the local Hugging Face cache ({tmp_path}/hf-cache) and "
        f"http://127.0.0.1:9 cannot be reached (no network or no route): {FIX}")


def test_paths_builtins_and_cached_ids_are_not_checked(tmp_path, monkeypatch, no_proxy):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    snap = tmp_path / "models--acme--tiny" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "models--acme--tiny" / "refs").mkdir()
    (tmp_path / "models--acme--tiny" / "refs" / "main").write_text("abc")
    assert hub_problem("acme/tiny") is None  # cached: transformers loads it offline
    assert hub_problem("acme/other") is not None
    assert not is_hub_id("builtin:tiny-gptj") and not is_hub_id("./models/x") and not is_hub_id(str(tmp_path))
    assert hub_problem(str(tmp_path / "missing")) is None  # a path: local_folder_problem says why


RETRIES = """
from tuneguard.cli.common import setup_logging
setup_logging(False)
from huggingface_hub.utils import http_backoff
try:
    http_backoff("HEAD", "http://127.0.0.1:9/nobody/no-such-model/resolve/main/config.json", max_retries=2,
                 base_wait_time=0, max_wait_time=0)
except Exception as exc:
    print(type(exc).__name__)
"""


def test_a_hub_retry_warning_is_said_once(no_proxy):
    """A hub behind a proxy (the probe cannot tell) that refuses every request: huggingface_hub
    warns at each retry through its own stderr handler and through the root's; the CLI's logging
    says each warning once."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    r = subprocess.run([sys.executable, "-c", RETRIES], capture_output=True, text=True, timeout=120, env=env)
    assert r.stdout.strip() == "ConnectError", r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert [ln for ln in lines if "Retrying in" in ln] == ["WARNING Retrying in 0s [Retry 1/2].",
                                                           "WARNING Retrying in 0s [Retry 2/2]."]
    assert len(lines) == 5 and all(ln.startswith("WARNING ") for ln in lines), lines
