"""Test-only reader: runs the `tuneguard status --json` code every `interval` seconds
against a run directory from its own process, and reports what it saw.

`python tests/reliability/poller.py RUN_DIR OUT.json [INTERVAL]` polls until the file
OUT.json.stop exists, then writes {"polls", "missing", "errors", "states", "max_step"}.
A poll before the run store exists counts as "missing"; anything else that is not a JSON
object with a state (an exception, "database is locked", a non-JSON output) is an error.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path


def poll_once(run_dir: Path) -> dict | None:
    """One `status --json`; None when the run has no store yet."""
    import typer

    from tuneguard.cli.status_cmd import status

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status(run_dir, json_=True)
    except typer.Exit as exc:
        if exc.exit_code == 2 and not (run_dir / "run.db").exists():
            return None
        raise RuntimeError(f"status exited {exc.exit_code}: {err.getvalue()}") from None
    return json.loads(out.getvalue())


def main() -> None:
    run_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    stop = Path(str(out) + ".stop")
    report = {"polls": 0, "missing": 0, "errors": [], "states": [], "max_step": 0}
    while not stop.exists():
        t0 = time.monotonic()
        try:
            s = poll_once(run_dir)
            if s is None:
                report["missing"] += 1
            else:
                if not isinstance(s.get("state"), str):
                    raise ValueError(f"no state in {s!r:.200}")
                if not report["states"] or report["states"][-1] != s["state"]:
                    report["states"].append(s["state"])
                report["max_step"] = max(report["max_step"], s.get("step") or 0)
        except Exception as exc:  # noqa: BLE001 - every failure is what the test looks for
            report["errors"].append(f"{type(exc).__name__}: {exc}"[:300])
        report["polls"] += 1
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    out.write_text(json.dumps(report), "utf-8")


if __name__ == "__main__":
    main()
