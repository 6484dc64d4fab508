"""LOW_DIVERSITY judges a multi-turn chat on every assistant turn it trains (data.chat_turns: all),
not on its last answer alone: a courtesy that closes most conversations is not a template when
the answers before it are trained too. Rows are Python's own docstrings (tests.audit.audit_corpus)."""

from __future__ import annotations

import random

from tests.audit.audit_corpus import docstrings
from tests.audit.audit_helpers import get

SYSTEM = "You are the documentation assistant of a Python team. Answer briefly and accurately."
THANKS = ("thanks!", "Thank you.", "great, thanks", "ok thx")
WELCOME = ("You're welcome!", "Glad I could help.", "Happy to help!")


def chats(n: int, closing: float, seed: int = 0) -> list[dict]:
    """A question on one documented object, its docstring as the answer; `closing` of the rows add
    a thank-you and one of three courtesy replies as the last turn."""
    rng = random.Random(seed)
    rows = []
    for mod, name, doc in docstrings()[:n]:
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"What does {mod}.{name} do?"},
                {"role": "assistant", "content": doc}]
        if rng.random() < closing:
            msgs += [{"role": "user", "content": rng.choice(THANKS)}, {"role": "assistant", "content": rng.choice(WELCOME)}]
        rows.append({"messages": msgs})
    return rows


def test_a_closing_courtesy_on_most_chats_is_no_template_when_every_turn_trains(audit_rows):
    rows = chats(300, closing=0.7)
    result, _ = audit_rows(rows)
    assert "LOW_DIVERSITY" not in {f.code for f in result.findings}
    stats = result.stats["diversity"]
    assert stats["judged_on"] == "every trained assistant turn of multi-turn chats"
    assert stats["unique_response_share"] == 1.0
    # Every conversation closed by one of three courtesies: not a classifier of three labels.
    result, _ = audit_rows(chats(300, closing=1.0))
    assert result.stats["task"]["shape"] == "open" and result.stats["task"]["distinct_responses"] == 270
    assert "LOW_DIVERSITY" not in {f.code for f in result.findings}
    # Trained on the last answer only, the closing courtesy is what most rows teach: templated.
    result, _ = audit_rows(rows, data={"chat_turns": "last"})
    assert get(result, "LOW_DIVERSITY").severity == "error"


def test_chats_whose_trained_turns_are_canned_are_still_caught(audit_rows):
    rows = chats(300, closing=1.0)
    rng = random.Random(1)
    for r in rows:  # 80% of the conversations: one canned answer, then the same courtesy
        if rng.random() < 0.8:
            r["messages"][2]["content"] = "I can help with that. Please check the documentation."
            r["messages"][4]["content"] = WELCOME[0]
    result, _ = audit_rows(rows)
    assert result.stats["task"]["shape"] == "open"
    f = get(result, "LOW_DIVERSITY")
    assert f.severity == "error" and f.evidence["top20_share"] > 0.7
    assert f.evidence["judged_on"] == "every trained assistant turn of multi-turn chats"
