"""Can a hub model id be loaded now? Said at once, before transformers tries.

A hub id that is neither in the local Hugging Face cache nor reachable (offline mode, no
route to the hub) makes transformers retry each file request about five times with growing
waits (half a minute or more, per file) before it fails with a message about cached files.
A user who typed a wrong id, or has no network, learns nothing more from that wait: the
check here answers in a second, with one line that names the id and how to fix it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0  # how long the reachability probe waits for DNS and a TCP connection
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def is_hub_id(name: str) -> bool:
    """True for a name transformers would look up on the hub: not a built-in, not a path."""
    path = Path(name)
    return not (name.startswith(("builtin:", ".", "/", "~")) or path.is_absolute() or path.exists())


def cached(name: str, revision: str | None, gguf: str | None) -> bool:
    """The id's config (or its GGUF file) is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(name, gguf or "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an id the cache cannot even name: let transformers say why
        return True
    return isinstance(hit, str)


def reachable(endpoint: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A TCP connection to the hub's host opens within `timeout` (DNS included, in a thread of
    its own because getaddrinfo has no timeout). Behind a proxy the direct route says nothing:
    assumed reachable."""
    if any(os.environ.get(v) for v in _PROXY_VARS):
        return True
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError as exc:
            log.debug("hub probe %s:%s failed: %s", host, port, exc)
            result.append(False)

    worker = threading.Thread(target=probe, daemon=True, name="tuneguard-hub-probe")
    worker.start()
    worker.join(2 * timeout)
    return bool(result and result[0])


def hub_problem(name: str, revision: str | None = None, gguf: str | None = None) -> str | None:
    """Why the hub id `name` cannot be loaded now (not cached, and offline or the hub out of
    reach), as one line naming the id and the fix; None when it may load (a path, a built-in,
    a cached id, or a reachable hub, which answers for itself)."""
    from huggingface_hub import constants

    if not is_hub_id(name) or cached(name, revision, gguf):
        return None
    fix = ("set model.name to a local folder saved with save_pretrained, or download the model first "
           "(with network access, and a token in HF_TOKEN or model.hub_token for a gated model)")
    if constants.HF_HUB_OFFLINE:
        return (f"model {name!r} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and "
                f"HF_HUB_OFFLINE is set, so it cannot be downloaded: check the id, {fix}")
    if not reachable(constants.ENDPOINT):
        return (f"model {name!r} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and "
                f"{constants.ENDPOINT} cannot be reached (no network or no route): check the id, {fix}")
    return None
