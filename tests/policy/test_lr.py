"""Learning-rate scaling composed with the schedule (tuneguard.policy.lr), on real
transformers schedules and torch optimizers."""

from __future__ import annotations

import io

import pytest
import torch
from transformers import get_scheduler

from tuneguard.policy.lr import LRScaler, parse_lr_request

PEAK = 1e-3


def setup(name: str = "cosine", total: int = 100, warmup: int = 10):
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))]
    opt = torch.optim.AdamW([{"params": [params[0]]}, {"params": [params[1]], "weight_decay": 0.0}], lr=PEAK)
    return opt, get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=total)


def bound() -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, LRScaler]:
    """The cosine schedule of `setup` with an LRScaler at PEAK bound to it."""
    opt, sched = setup()
    lr = LRScaler(PEAK)
    lr.bind(sched, opt)
    return opt, sched, lr


def plain_lrs(name: str = "cosine", total: int = 100, warmup: int = 10) -> list[float]:
    opt, sched = setup(name, total, warmup)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("text, value, relative", [("1e-5", 1e-5, False), ("x0.1", 0.1, True), ("×0.5", 0.5, True),
                                                   ("*2", 2.0, True), (" x 0.25 ", 0.25, True), ("0.003", 0.003, False)])
def test_parse_lr_request(text, value, relative):
    r = parse_lr_request(text)
    assert (r.value, r.relative) == (value, relative)
    assert parse_lr_request(str(r)) == r


@pytest.mark.parametrize("text", ["", "abc", "x", "x0", "0", "-1e-5", "xnan", "inf", "x-0.5"])
def test_parse_lr_request_refuses(text):
    with pytest.raises(ValueError):
        parse_lr_request(text)


def test_scale_is_applied_at_once_and_composes_with_the_schedule():
    plain = plain_lrs()
    opt, sched, lr = bound()
    seen = []
    for step in range(100):
        if step == 30:
            change = lr.multiply(0.5)
            # The optimizer changes now, not at the next scheduler step.
            assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * plain[30])
            assert (change.lr_from, change.lr_to) == (pytest.approx(plain[30]), pytest.approx(0.5 * plain[30]))
            assert (change.factor_from, change.factor_to, change.clamped) == (1.0, 0.5, None)
        seen.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == pytest.approx(seen[-1])  # what the Trainer logs
        opt.step()
        sched.step()
    for step, lrs in enumerate(seen):
        want = plain[step] * (0.5 if step >= 30 else 1.0)
        assert lrs == pytest.approx([want, want]), step  # every param group


def test_absolute_value_sets_this_step_and_the_schedule_goes_on_from_it():
    plain = plain_lrs()
    opt, sched, lr = bound()
    for _ in range(40):
        opt.step()
        sched.step()
    target = plain[40] / 4
    change = lr.apply(parse_lr_request(f"{target}"))
    assert change.lr_to == pytest.approx(target) and lr.factor == pytest.approx(0.25)
    for step in range(40, 60):
        assert opt.param_groups[0]["lr"] == pytest.approx(plain[step] / 4)
        opt.step()
        sched.step()


def test_absolute_value_where_the_schedule_is_zero_is_refused():
    _, _, lr = bound()  # warmup starts at lr 0
    with pytest.raises(ValueError, match="use a factor"):
        lr.apply(parse_lr_request("1e-4"))


def test_bounds_clamp_the_factor():
    opt, sched, lr = bound()  # defaults: min = peak / 100, max = peak
    assert lr.multiply(2).clamped == "policy.max_lr 0.001" and lr.factor == 1.0
    ch = lr.multiply(0.001)
    assert ch.clamped == "policy.min_lr 1e-05" and lr.factor == pytest.approx(0.01)
    assert not lr.multiply(0.5).changed  # already at the bound
    lr2 = LRScaler(PEAK, min_lr=5e-4, max_lr=4e-3)
    lr2.bind(*reversed(setup()))
    assert lr2.multiply(3).factor_to == 3 and lr2.multiply(2).factor_to == 4
    assert lr2.multiply(0.01).factor_to == 0.5


def test_checkpointed_scheduler_loads_with_weights_only_and_a_new_scheduler_is_rescaled():
    plain = plain_lrs()
    opt, sched, lr = bound()
    for _ in range(25):
        opt.step()
        sched.step()
    lr.multiply(0.5)
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)  # what the Trainer writes to scheduler.pt
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert state["lr_lambdas"] == [None, None]  # the wrappers are not in the checkpoint
    # A resumed pass: a fresh optimizer and scheduler, loaded, then bound again.
    opt2, sched2 = setup()
    sched2.load_state_dict(state)
    lr.bind(sched2, opt2)
    for step in range(25, 40):
        assert opt2.param_groups[0]["lr"] == pytest.approx(0.5 * plain[step])
        opt2.step()
        sched2.step()


def test_chainable_scheduler_gets_the_ratio_once():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=PEAK)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    lr = LRScaler(PEAK)
    lr.bind(sched, opt)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(PEAK / 2)
    lr.multiply(0.1)
    assert opt.param_groups[0]["lr"] == pytest.approx(PEAK / 20)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(PEAK / 40)
