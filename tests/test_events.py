"""The run's events in one place (tuneguard.events): the config, the trackers and the message
renderer know the same events, and every event the code records is one of them."""

from __future__ import annotations

import ast
from pathlib import Path

from tuneguard.config.schema import NOTIFY_EVENTS, NotifyConfig
from tuneguard.events import NOTIFIABLE, NOT_TRACKED, PAYLOADS, Event
from tuneguard.notify.messages import en, th
from tuneguard.notify.messages.render import EVENTS as RENDERED
from tuneguard.trackers import SKIPPED_EVENTS

SRC = Path(__file__).resolve().parents[1] / "src" / "tuneguard"


def test_config_trackers_and_renderer_know_the_same_events():
    assert NOTIFY_EVENTS == tuple(e.value for e in NOTIFIABLE)
    assert NotifyConfig().events == list(NOTIFY_EVENTS)
    assert set(SKIPPED_EVENTS) == {e.value for e in NOT_TRACKED}
    # The renderer makes a message for every notifiable event (and the test message), with a
    # title in both languages.
    assert RENDERED == tuple(e.value for e in NOTIFIABLE) + (Event.TEST.value,)
    assert set(en.TITLES) == set(th.TITLES) == set(RENDERED)
    assert set(PAYLOADS) == set(NOTIFIABLE)


def recorded_event_names(root: Path = SRC) -> dict[str, str]:
    """name -> where, for every event name the code passes as a literal (or an Event member)
    to `.event(...)`, `.add_event(...)` or `.notify(...)`."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("event", "add_event", "notify") and node.args):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found[arg.value] = f"{path.relative_to(root)}:{node.lineno}"
            elif isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "Event":
                found[Event[arg.attr].value] = f"{path.relative_to(root)}:{node.lineno}"
    return found


def test_every_event_the_code_records_is_a_known_event():
    known = {e.value for e in Event}
    unknown = {name: where for name, where in recorded_event_names().items() if name not in known}
    assert unknown == {}


def test_the_scan_sees_literal_and_typed_events(tmp_path: Path):
    (tmp_path / "m.py").write_text("ctx.event('bogus', {})\nstore.add_event(Event.HALTED, {})\n")
    assert recorded_event_names(tmp_path) == {"bogus": "m.py:1", "halted": "m.py:2"}
