"""The control callback: stop, pause, continue and checkpoint requests reach the Trainer.

Requests are rows in the run store's `control` table, inserted by `tuneguard stop|pause|
continue|checkpoint RUN_DIR` from any terminal (or a notebook cell). The main process reads
the pending ones at the end of an optimizer step and turns them into the Trainer's own
`control` flags, so a request takes effect within one step:

- stop: save a checkpoint at this step and end; the run ends with state `stopped` (exit 0).
- checkpoint: save a checkpoint at this step; training goes on.
- pause: save a checkpoint at this step, then (in `on_save`, after the checkpoint is on disk
  and marked complete) set state `paused` and wait until `continue` or `stop` arrives.
  Nothing is released: the model, optimizer and data loader stay where they are.
- continue: ends a pause; rejected when the run is not paused.

A request or signal that arrives during an evaluation is decided as soon as the evaluation
ends (`on_evaluate`), so its checkpoint is the one the Trainer saves right after it.

SIGTERM and SIGINT (signals.py) are handled as a stop request that the callback records in
the same table, so every stop has a row saying who or what asked for it.

Cost: the store is read at most every `poll_interval_s` (0.2 s) of wall time: one SELECT
on the small control table (about 20 us); other steps cost an attribute read and a clock
read (about 3 us). No tensor is touched, so there is no device synchronisation.

Order: the recipe registers CheckpointMarkerCallback before this callback, so at our
`on_save` the checkpoint is already marked complete and a run paused for hours can be
resumed from it if the machine goes away.

Several processes (torchrun, accelerate launch): only rank 0 reads the store, but every
rank must save, pause and stop at the same step, or one rank waits in a collective for
another that has left the loop. What to do at a step is one small integer (`Action`):
every `train.control_every_steps` optimizer steps (and at the last step) all ranks call
`share`, one all-reduce that ORs the flags: rank 0 contributes the store's requests and
its signals, every other rank its own signals (torchrun forwards SIGTERM to all workers,
a preempted node signals only its own). Between those steps nothing is read or decided,
so a request waits at most that many steps. A pause keeps every rank in the pause loop:
each poll (`pause_poll_s`) is one all-reduce in which rank 0 says wait/continue/stop, so
no rank sits in one collective long enough to reach the process group's timeout.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from tuneguard.catalog import Spec, T, is_spec, render
from tuneguard.control.signals import SignalWatcher
from tuneguard.dist import Collectives
from tuneguard.context import RunContext
from tuneguard.events import Event

log = logging.getLogger(__name__)

ACTIONS = ("stop", "pause", "continue", "checkpoint", "set_lr", "rollback")
# Carried out by the run's policy engine (tuneguard.policy, reached as ctx.policy).
POLICY_REQUESTS = ("set_lr", "rollback")


class Action(enum.IntFlag):
    """What the training loop does at one step; an int so it can be broadcast to all ranks."""

    NONE = 0
    SAVE = 1
    PAUSE = 2
    STOP = 4


# Outcome of one poll of the pause loop; agreed with MAX, so a stop wins over a continue.
_WAIT, _CONTINUE, _STOP = 0, 1, 2


def _process_start_time() -> float:
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:  # noqa: BLE001 - only used to reject stale requests
        return time.time()


def _unknown(kind: str) -> Spec:
    return T("control.note.unknown", kind=kind, known=", ".join(ACTIONS))


class ControlCallback(TrainerCallback):
    """Polls the run store for control requests and applies them through `control`."""

    def __init__(self, ctx: RunContext, signals: SignalWatcher | None = None, *,
                 poll_interval_s: float = 0.2, pause_poll_s: float = 0.25, heartbeat_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.ctx = ctx
        self.signals = signals
        self.poll_interval_s = poll_interval_s
        self.pause_poll_s = pause_poll_s
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self._sleep = sleep
        self._last_poll = -math.inf
        # Requests taken up at this step but acknowledged only once the checkpoint is on disk.
        self._awaiting_save: list[dict[str, Any]] = []
        self._pause_req: dict[str, Any] | None = None
        self._claimed: set[int] = set()
        # Several processes: collectives over all ranks, and the agreed pause (every rank).
        self._coll: Collectives | None = None
        self._pausing = False
        self._training = False  # between on_train_begin and on_train_end
        train_cfg = getattr(ctx.cfg, "train", None)
        self.every = max(1, int(getattr(train_cfg, "control_every_steps", 1) or 1))
        # A request older than this process was sent to a previous, dead process of this
        # run directory (e.g. before a crash); acting on it after `--resume` would surprise.
        self._since = _process_start_time()

    @property
    def store(self) -> Any:
        return self.ctx.store if self.ctx.is_main else None

    # -- Trainer events -------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        if self.signals is not None:
            self.signals.install()
        if self.ctx.world_size > 1:  # the run's own gloo group when the recipe made one
            self._coll = getattr(self.ctx, "collectives", None) or Collectives.if_distributed()
        self._training = True

    def on_step_end(self, args, state, control, **kwargs):
        step, ending = state.global_step, control.should_training_stop
        # Under several processes, decide only at the agreed steps (the same on every rank:
        # `ending` comes from max_steps, which every rank reaches at the same step).
        if self._coll is not None and not ending and step % self.every != 0:
            return control
        action = self.share(self.decide(step, ending=ending), step)
        self.apply(action, control)
        return control

    def on_evaluate(self, args, state, control, **kwargs):
        """Decide again right after an evaluation inside training.

        The Trainer evaluates after `on_step_end` and saves after the evaluation, so a signal
        or request that arrived during a long evaluation would otherwise wait for the next
        optimizer step: one more step of a preempted machine's grace period, and a checkpoint
        of a step later than the one the user saw end. Deciding here makes the save that
        follows the evaluation the stop's checkpoint. Every rank evaluates at the same step,
        so the decision is shared as at a step end."""
        if not self._training:
            return control
        step, ending = state.global_step, control.should_training_stop
        self.apply(self.share(self.decide(step, ending=ending), step), control)
        return control

    def on_save(self, args, state, control, **kwargs):
        step = state.global_step
        ckpt = self._checkpoint_name(step)
        for req in self._awaiting_save:
            note = T("control.note.written_stopping" if req["action"] == "stop" else "control.note.written", ckpt=ckpt)
            self._finish_request(req, "done", step, note, checkpoint=ckpt)
        self._awaiting_save.clear()
        # Pause here: the checkpoint is complete, and a stop that ends the pause can still
        # set should_training_stop before the Trainer checks it after this save.
        if (self._pause_req is not None or self._pausing) and self._pause(step, ckpt) == Action.STOP:
            self.apply(Action.STOP, control)
        return control

    def on_step_begin(self, args, state, control, **kwargs):
        # Only reached with work left over when the Trainer did not save although we asked
        # (a save strategy that overrides should_save): say so instead of leaving it pending.
        if self._awaiting_save or self._pause_req is not None or self._pausing:
            self._unsaved(state.global_step)
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self._training = False
        self._unsaved(state.global_step, ended=True)
        self.close()

    def close(self) -> None:
        """Restore the signal handlers; safe to call more than once."""
        if self.signals is not None:
            self.signals.uninstall()

    # -- deciding -------------------------------------------------------------------
    def decide(self, step: int, ending: bool = False) -> Action:
        """What to do at the end of optimizer step `step`, from signals and pending requests.

        Side effects are limited to bookkeeping of the requests (claimed, rejected); the
        returned Action is the whole decision, so rank 0 can broadcast it (`share`).
        `ending`: the Trainer already ends at this step (max_steps or a guard).
        """
        action = Action.NONE
        sig = self.signals.take() if self.signals is not None else None
        if sig is not None:
            action |= Action.STOP | Action.SAVE
            self._claim_signal(sig, step)
        store = self.store
        if store is None:
            return action
        now = self._clock()
        if sig is None and now - self._last_poll < self.poll_interval_s:
            return action
        self._last_poll = now
        for req in store.pending_control():
            if req["id"] in self._claimed:
                continue
            kind = req["action"]
            if self._stale(req):
                self._finish_request(req, "rejected", step, T("control.note.stale"), event=False)
            elif kind in ("stop", "checkpoint"):
                action |= Action.SAVE | (Action.STOP if kind == "stop" else Action.NONE)
                self._claim(req, step)
            elif kind == "pause":
                if action & Action.STOP:
                    self._finish_request(req, "rejected", step, T("control.note.stopping"))
                elif ending:
                    self._finish_request(req, "rejected", step, T("control.note.ending"))
                else:
                    action |= Action.PAUSE | Action.SAVE
                    self._pause_req = req
                    self._claimed.add(req["id"])
                    # Later requests (a quick `continue`) are for the pause loop to read.
                    break
            elif kind == "continue":
                self._finish_request(req, "rejected", step, T("control.note.not_paused"))
            elif kind in POLICY_REQUESTS:
                self._delegate(req, step)
            else:
                self._finish_request(req, "rejected", step, _unknown(kind))
        return action

    def share(self, action: Action, step: int = 0) -> Action:
        """The decision of every rank at this step: the OR of all ranks' `decide` results.

        One process: `action` as it is. Several: one all-reduce, called by every rank at
        the same steps (see `on_step_end`). A stop wins over a pause decided at the same
        step (the pause request is rejected); a stop that came from another rank's signal
        is recorded on rank 0 so that the run's stop has its row in the store.
        """
        if self._coll is None:
            return action
        agreed = Action(self._coll.all_or(int(action)))
        if agreed & Action.STOP and agreed & Action.PAUSE:
            agreed &= ~Action.PAUSE
            if self._pause_req is not None:
                self._finish_request(self._pause_req, "rejected", step, T("control.note.stopping"))
                self._pause_req = None
        if agreed & Action.STOP and not action & Action.STOP:
            # One signal to every process (torchrun forwards it) may reach this one a moment
            # after its own decision: then it is this process's stop, not only the peer's.
            sig = self.signals.take() if self.signals is not None else None
            if sig is not None:
                self._claim_signal(sig, step)
            else:
                self._claim_peer_stop(step)
        self._pausing = bool(agreed & Action.PAUSE)
        return agreed

    def apply(self, action: Action, control: Any) -> None:
        """Turn the decision into the Trainer's control flags."""
        if action & Action.SAVE:
            control.should_save = True
        if action & Action.STOP:
            if self.ctx.stop_reason is None and not control.should_training_stop:
                self.ctx.stop_reason = "stopped"
            control.should_training_stop = True

    # -- pausing --------------------------------------------------------------------
    def _pause(self, step: int, ckpt: str) -> Action:
        """Block the training loop until `continue` (returns NONE) or `stop` (returns STOP).

        Under several processes every rank comes here (`_pausing`, agreed in `share`);
        rank 0 alone has the request and the store.
        """
        req, self._pause_req = self._pause_req, None
        pausing, self._pausing = self._pausing, False
        store = self.store
        if (req is None or store is None) and not pausing:
            return Action.NONE
        t0 = time.time()
        if store is not None and req is not None:
            store.set_state("paused", paused_at_step=step, paused_since=t0)
            self._finish_request(req, "done", step, T("control.note.paused", step=step, ckpt=ckpt), checkpoint=ckpt)
            # Sent, unlike the other requests' events: a paused run holds its (rented) GPU idle
            # until someone continues or stops it, which whoever did not pause it must hear.
            self.ctx.event(Event.PAUSED, {"step": step, "requested_by": req["requested_by"],
                                          "checkpoint": str(self.ctx.run_dir / "checkpoints" / ckpt),
                                          "run_dir": str(self.ctx.run_dir)}, step=step)
            log.warning("paused at step %d (%s written); `tuneguard continue %s` resumes, `tuneguard stop` ends",
                        step, ckpt, self.ctx.run_dir)
        outcome = self._wait_while_paused(step, ckpt)
        if store is not None:  # the pause joins the ended ones: not training time (RunTimes)
            ended = float(store.get_meta("paused_s") or 0.0) + (time.time() - t0 if req is not None else 0.0)
            store.set_state("running", paused_at_step=None, paused_since=None, paused_s=ended)
        paused_s = round(time.time() - t0, 1)
        self.ctx.paused_seconds += time.time() - t0  # not training time: tokens/s and ETA exclude it
        if outcome == Action.STOP:
            log.warning("stopping while paused at step %d after %.0f s", step, paused_s)
        else:
            log.warning("continuing at step %d after a pause of %.0f s", step, paused_s)
        return outcome

    def _wait_while_paused(self, step: int, ckpt: str) -> Action:
        store = self.store
        last_beat = -math.inf
        while True:
            now = self._clock()
            if store is not None and now - last_beat >= self.heartbeat_s:
                store.heartbeat(step)  # keeps a paused run "live" for status/stop/watch
                last_beat = now
            outcome = self._poll_paused(step, ckpt)
            if self._coll is not None:  # every rank polls in step; any rank's stop wins
                local, outcome = outcome, self._coll.all_max([outcome])[0]
                if outcome == _STOP and local != _STOP:
                    self._claim_peer_stop(step, ckpt)
            if outcome == _STOP:
                return Action.STOP
            if outcome == _CONTINUE:
                return Action.NONE
            self._sleep(self.pause_poll_s)

    def _poll_paused(self, step: int, ckpt: str) -> int:
        """One look at signals and (rank 0) the store while paused: _WAIT, _CONTINUE or _STOP."""
        if self.signals is not None:
            sig = self.signals.take()
            if sig is not None:
                self._claim_signal(sig, step)
                for req in self._awaiting_save:
                    self._finish_request(req, "done", step, T("control.note.stopped_paused", ckpt=ckpt),
                                         checkpoint=ckpt)
                self._awaiting_save.clear()
                return _STOP
        store = self.store
        if store is None:
            return _WAIT
        for req in store.pending_control():
            kind = req["action"]
            if self._stale(req):
                self._finish_request(req, "rejected", step, T("control.note.stale"), event=False)
            elif kind == "continue":
                self._finish_request(req, "done", step, T("control.note.continued", step=step))
                return _CONTINUE
            elif kind == "stop":
                self._finish_request(req, "done", step, T("control.note.stopped_paused", ckpt=ckpt),
                                     checkpoint=ckpt)
                return _STOP
            elif kind == "checkpoint":
                self._finish_request(req, "done", step, T("control.note.written_at_pause", ckpt=ckpt), checkpoint=ckpt)
            elif kind == "pause":
                self._finish_request(req, "rejected", step, T("control.note.already_paused"))
            elif kind in POLICY_REQUESTS:
                self._delegate(req, step)
            else:
                self._finish_request(req, "rejected", step, _unknown(kind))
        return _WAIT

    # -- bookkeeping ----------------------------------------------------------------
    def _delegate(self, req: dict[str, Any], step: int) -> None:
        """set_lr / rollback: the policy engine acts at once (the lr applies from the next
        step; a rollback ends this pass) and says how it went."""
        policy = self.ctx.policy
        if policy is None:
            self._finish_request(req, "rejected", step, T("control.note.no_policy"))
            return
        status, note = policy.handle_request(req["action"], req.get("arg"), step, req["requested_by"])
        self._finish_request(req, status, step, note)

    def _checkpoint_name(self, step: int) -> str:
        return f"{PREFIX_CHECKPOINT_DIR}-{step}"  # the folder the Trainer has just written

    def _stale(self, req: dict[str, Any]) -> bool:
        return float(req.get("time") or 0.0) < self._since - 1.0

    def _claim(self, req: dict[str, Any], step: int) -> None:
        self._claimed.add(req["id"])
        self._awaiting_save.append(req)
        log.info("%s requested by %s: acting at step %d", req["action"], req["requested_by"], step)

    def _claim_signal(self, sig: str, step: int) -> None:
        """Record a signal as a stop request so every stop has its row in the store."""
        who = f"signal {sig} to pid {os.getpid()}"
        req = {"id": None, "action": "stop", "arg": sig, "requested_by": who, "time": time.time()}
        if self.store is not None:
            req["id"] = self.store.request_control("stop", arg=sig, requested_by=who)
            self._claimed.add(req["id"])
        self._awaiting_save.append(req)

    def _claim_peer_stop(self, step: int, ckpt: str | None = None) -> None:
        """A stop that another rank decided (its own signal): give it a row like any stop.

        While running, it is acknowledged with the checkpoint the stop writes (`on_save`);
        while paused (`ckpt` given) the pause's checkpoint is the last one, so at once.
        """
        who = "a signal to another process of this run"
        req = {"id": None, "action": "stop", "arg": "peer", "requested_by": who, "time": time.time()}
        if self.store is not None:
            req["id"] = self.store.request_control("stop", arg="peer", requested_by=who)
            self._claimed.add(req["id"])
        if ckpt is None:
            self._awaiting_save.append(req)
        else:
            self._finish_request(req, "done", step, T("control.note.stopped_paused", ckpt=ckpt), checkpoint=ckpt)

    def _finish_request(self, req: dict[str, Any], status: str, step: int, note: Spec | str, *,
                        checkpoint: str | None = None, event: bool = True) -> None:
        """Mark a request handled and record it as a `control_<action>` event (notified).
        `note`, a catalog spec (or the policy's text), is recorded in the run's language, which
        `status` and `stop --wait` show; the event keeps the spec too (`text`), for a report in
        another language."""
        self._claimed.discard(req.get("id"))
        cfg = self.ctx.cfg
        text = render(note, cfg.report.language or cfg.notify.language) if is_spec(note) else str(note)
        store = self.store
        if store is not None and req.get("id") is not None:
            store.mark_control(req["id"], status, step, text)
        if status == "rejected":
            log.warning("%s request from %s rejected: %s", req["action"], req["requested_by"], text)
        if not event:
            return
        payload: dict[str, Any] = {"request_id": req.get("id"), "requested_by": req["requested_by"],
                                   "status": status, "note": text, "step": step}
        if is_spec(note):
            payload["text"] = note
        if req.get("arg"):
            payload["signal" if str(req["arg"]).startswith("SIG") else "arg"] = req["arg"]
        if checkpoint:
            payload["checkpoint"] = checkpoint
        self.ctx.event(f"control_{req['action']}", payload, step=step)

    def _unsaved(self, step: int, ended: bool = False) -> None:
        """Acknowledge requests whose checkpoint never came (see on_step_begin/on_train_end)."""
        why = T("control.note.ended_before") if ended else T("control.note.no_checkpoint")
        keep = []
        for req in self._awaiting_save:
            if req["action"] != "stop":
                self._finish_request(req, "rejected", step, why)
            elif ended:
                self._finish_request(req, "done", step, T("control.note.stopped_unsaved", step=step))
            else:
                keep.append(req)  # the stop still happens; acknowledged by the next save or at the end
        self._awaiting_save = keep
        if self._pause_req is not None:
            self._finish_request(self._pause_req, "rejected", step, why)
            self._pause_req = None
        self._pausing = False
