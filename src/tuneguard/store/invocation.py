"""How a run was started (`tuneguard train CONFIG --set ...`), kept in its run store, so that
every message that tells the user how to continue the run prints the command that does it.

The run directory's config.yaml is the resolved config, secrets redacted: it is not what the
user typed, and a notification URL in it reads `json://***`. So the store keeps the config
argument as given (a path or a preset name), the working directory it was given in (a
relative path means something only there), the `--set` overrides as given and `--force`:
meta key `invocation` (README, the run directory; docs/RELIABILITY.md, "Interruptions"). An override that holds a
secret (a notification URL, a hub token; an `${ENV}` reference is no secret) is never stored:
only its key, so that the command can say "add your --set notify.urls again".

A run recorded before this was kept has no `invocation`: its command names `CONFIG`.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tuneguard.catalog import Spec, T
from tuneguard.config.load import SECRET_FIELDS, is_env_ref

META_KEY = "invocation"
UNKNOWN_CONFIG = "CONFIG"  # what a run recorded before the invocation was kept says instead


def _leaves(value: Any, prefix: str) -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf of a --set value ({"urls": [..]} under "notify")."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _leaves(v, f"{prefix}.{k}")]
    return [(prefix, value)]


def _only_env_refs(value: Any) -> bool:
    """True for `${VAR}` references (or a list of them): a name, not the secret."""
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and is_env_ref(v) for v in items)


def secret_keys(override: str) -> list[str]:
    """The secret fields (config.load.SECRET_FIELDS) a `--set key=value` override gives a value
    that is not an `${ENV}` reference; [] for an override that holds no secret."""
    key, _, raw = override.partition("=")
    key = key.strip()
    touched = [f for f in SECRET_FIELDS if f == key or f.startswith(key + ".") or key.startswith(f + ".")]
    if not touched:
        return []
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return touched  # not parsed: assume the worst
    found = [f for f in touched for k, v in _leaves(value, key)
             if (k == f or k.startswith(f + ".") or f.startswith(k + ".")) and v is not None and not _only_env_refs(v)]
    return sorted(set(found))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def launcher_from_env(env: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], int]:
    """(the launcher words before `-m tuneguard`, the number of machines) of this process, read
    from what the launchers put in the environment, in the forms docs/DISTRIBUTED.md uses;
    ((), 1) for a plain single process. accelerate launch runs torchrun's agent itself (its
    workers carry TORCHELASTIC_RUN_ID too), so its ACCELERATE_* variables are looked at first.
    The rendezvous options of a run on several machines are not in the environment: the
    advice says to add them (resume_advice)."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        local = int(env.get("LOCAL_WORLD_SIZE", "0")) or world
    except ValueError:
        return (), 1
    if world <= 1:
        return (), 1
    nodes = max(1, world // max(local, 1))
    if any(k.startswith("ACCELERATE_") for k in env):
        words = ["accelerate", "launch", "--multi_gpu"]
        words += ["--use_fsdp"] if _truthy(env.get("ACCELERATE_USE_FSDP")) else []
        words += ["--use_deepspeed"] if _truthy(env.get("ACCELERATE_USE_DEEPSPEED")) else []
        words += (["--num_machines", str(nodes)] if nodes > 1 else []) + ["--num_processes", str(world)]
        return tuple(words), nodes
    if env.get("TORCHELASTIC_RUN_ID") or env.get("LOCAL_WORLD_SIZE"):
        words = ["torchrun"] + (["--nnodes", str(nodes)] if nodes > 1 else []) + ["--nproc_per_node", str(local)]
        return tuple(words), nodes
    return (), 1


@dataclasses.dataclass(frozen=True)
class Invocation:
    """`tuneguard train CONFIG [--set k=v]... [--force]` as the user gave it, secrets left out."""

    config: str  # as given: a path (relative to `cwd`) or a preset name
    cwd: str
    sets: tuple[str, ...] = ()  # the --set overrides as given, except those holding a secret
    withheld: tuple[str, ...] = ()  # the keys of the overrides left out (they hold a secret)
    force: bool = False
    launcher: tuple[str, ...] = ()  # `torchrun --nproc_per_node 4`: the words before `-m tuneguard`
    nodes: int = 1  # machines the launcher ran on (each needs the command, with its rendezvous options)

    @classmethod
    def given(cls, config: str, sets: Iterable[str] | None = None, *, force: bool = False,
              secrets: Iterable[str] = (), cwd: str | None = None, env: Mapping[str, str] | None = None) -> Invocation:
        """From the command's arguments and the launcher in `env` (default: this process's
        environment). `secrets`: resolved secret values (config.load.secret_values); an
        override that holds one is left out as well, whatever its key."""
        kept: list[str] = []
        withheld: list[str] = []
        values = [s for s in secrets if s]
        for s in sets or []:
            if secret_keys(s) or any(v in s for v in values):
                withheld.append(s.partition("=")[0].strip())  # its key as given: `notify.urls`, or `notify`
            else:
                kept.append(s)
        launcher, nodes = launcher_from_env(env)
        return cls(config=config, cwd=cwd or os.getcwd(), sets=tuple(kept),
                   withheld=tuple(dict.fromkeys(withheld)), force=force, launcher=launcher, nodes=nodes)

    def default_run_dir(self) -> str:
        """Where `tuneguard train CONFIG` puts a run without --run-dir: runs/ and the config's
        file name without .yaml (a preset: its name)."""
        stem = Path(self.config).stem if self.config.endswith((".yaml", ".yml")) else self.config
        return str(Path("runs") / stem)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "cwd": self.cwd, "sets": list(self.sets), "withheld": list(self.withheld),
                "force": self.force, "launcher": list(self.launcher), "nodes": self.nodes}

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> Invocation | None:
        """The invocation a run store's meta holds; None for a run recorded before it was kept."""
        d = meta.get(META_KEY)
        if not isinstance(d, dict) or not isinstance(d.get("config"), str):
            return None
        return cls(config=d["config"], cwd=str(d.get("cwd") or ""), sets=tuple(d.get("sets") or ()),
                   withheld=tuple(d.get("withheld") or ()), force=bool(d.get("force")),
                   launcher=tuple(str(w) for w in d.get("launcher") or ()), nodes=int(d.get("nodes") or 1))

    def resume_words(self, run_dir: str | os.PathLike[str], here: str | None = None, *,
                     resume: bool = True) -> tuple[list[str], str | None]:
        """(the words of the `tuneguard train ... --resume auto` command that continues the run in
        `run_dir`, the directory to run it in or None for `here`). A config path, and any relative
        path among the overrides, means what it meant where the run was started: from another
        directory the command runs there, with the run directory made absolute. `resume` False:
        the command as it was started (a run that failed before training is started again)."""
        here = here or os.getcwd()
        elsewhere = bool(self.cwd) and os.path.realpath(self.cwd) != os.path.realpath(here)
        run = str(Path(here, run_dir).resolve()) if elsewhere else str(run_dir)
        # Under a launcher, as docs/DISTRIBUTED.md writes it: `torchrun --nproc_per_node 4 -m tuneguard train ...`.
        words = [*self.launcher, "-m", "tuneguard"] if self.launcher else ["tuneguard"]
        words += ["train", self.config, "--run-dir", run]
        for s in self.sets:
            words += ["--set", s]
        words += (["--force"] if self.force else []) + (["--resume", "auto"] if resume else [])
        return words, self.cwd if elsewhere else None


def resume_command(invocation: Invocation | None, run_dir: str | os.PathLike[str], here: str | None = None) -> str:
    """The shell command that continues the run in `run_dir`, quoted for the shell; for a run
    recorded before the invocation was kept, with CONFIG where the config goes."""
    if invocation is None:
        return shlex.join(["tuneguard", "train", UNKNOWN_CONFIG, "--run-dir", str(run_dir), "--resume", "auto"])
    words, cwd = invocation.resume_words(run_dir, here)
    return (f"cd {shlex.quote(cwd)} && " if cwd else "") + shlex.join(words)


def rerun_command(invocation: Invocation, run_dir: str | os.PathLike[str], here: str | None = None) -> str:
    """The shell command that started the run in `run_dir`, to start it again (a run that
    failed before its first step has nothing to resume)."""
    words, cwd = invocation.resume_words(run_dir, here, resume=False)
    return (f"cd {shlex.quote(cwd)} && " if cwd else "") + shlex.join(words)


def resume_advice(invocation: Invocation | None, run_dir: str | os.PathLike[str], here: str | None = None) -> Spec:
    """The command that continues the run, in words: with the secret overrides it leaves out,
    or what CONFIG stands for in a run recorded before the invocation was kept."""
    command = resume_command(invocation, run_dir, here)
    if invocation is None:
        return T("resume.command.unknown", command=command)
    if invocation.withheld:
        spec = T("resume.command.withheld", command=command, keys=", ".join(invocation.withheld))
    else:
        spec = T("resume.command", command=command)
    return T("resume.command.nodes", command=spec, nodes=invocation.nodes) if invocation.nodes > 1 else spec


def stored_invocation(run_dir: str | os.PathLike[str]) -> Invocation | None:
    """The invocation in `run_dir`'s run store, read only; None when there is none (or no store)."""
    from tuneguard.store.run_store import open_for_reading

    try:
        with open_for_reading(run_dir) as store:
            return Invocation.from_meta(store.meta())
    except Exception:  # noqa: BLE001 - advice must never fail the message it completes
        return None


def restore_secrets(cfg: Any, started: Invocation | None) -> list[str]:
    """Put back into `cfg` the notification URLs and hub token that a run directory's config.yaml
    holds redacted (`json://***`), read again from the config the run was started with (`started`),
    in memory only: a run that `tuneguard next --train` starts from the saved config notifies
    where the first run did, and no secret is written to a file. A value is restored only when
    the saved, redacted one is exactly what the original redacts to. Returns the keys restored."""
    from tuneguard.config.load import SECRET_MARK, load_config, redact_url

    if started is None or SECRET_MARK not in f"{cfg.notify.urls} {cfg.model.hub_token}":
        return []
    path = Path(started.cwd or ".", started.config)
    try:
        orig = load_config(str(path) if path.is_file() else started.config, list(started.sets))
    except Exception:  # noqa: BLE001 - the original config moved or changed: the saved one stands, as the note says
        return []
    restored: list[str] = []
    if orig.notify.urls and [redact_url(u) for u in orig.notify.urls] == list(cfg.notify.urls):
        cfg.notify.urls = list(orig.notify.urls)
        restored.append("notify.urls")
    if orig.model.hub_token and cfg.model.hub_token == SECRET_MARK:
        cfg.model.hub_token = orig.model.hub_token
        restored.append("model.hub_token")
    return restored
