"""The go/no-go before any rank loads a model.

Under torchrun every rank runs the recipe. Only rank 0 takes the run-directory lock,
creates the run store and runs the data audit; every rank reads and tokenizes the data.
Before the model is loaded all ranks meet once (`StartGate.go`) and agree on:

- whether to start at all: a rank that failed before this point (audit errors without
  --force, a data error, a locked run directory, a missing file on one node) says no, and
  every rank then exits with that rank's exit code instead of loading a model and waiting
  in a collective for a peer that has already gone;
- the same training data in the same order (a digest of the tokenized rows' hashes in order,
  tuneguard.data.fingerprint's, which the data identity also reads: data files that differ
  between nodes would otherwise train silently on different data);
- the same checkpoint to resume from (a run directory that is not on shared storage shows
  different checkpoints on different nodes).

A rank that fails before the gate calls `refuse(code)` from its error handler, which takes
part in the same single collective; after the gate has been passed `refuse` does nothing
(a failure during training is seen by the launcher, which ends the other ranks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tuneguard.data.fingerprint import features_row_hashes, ordered_digest
from tuneguard.dist.collectives import Collectives

log = logging.getLogger(__name__)

_FP_BITS = 62  # fingerprints stay positive int64 values, and so does their negation


class PeerRefused(Exception):
    """Another rank (or the agreement itself) refused the start; `code` is the exit code.

    `message` is for rank 0 to print (None when the rank that failed has said why itself).
    """

    def __init__(self, code: int, message: str | None = None):
        super().__init__(message or f"exit code {code}")
        self.code = code
        self.message = message


TrainRows = Sequence[dict[str, Any]] | np.ndarray | Callable[[], np.ndarray]


def data_fingerprint(rows: TrainRows) -> int:
    """A 62-bit digest of the tokenized rows in order (input_ids and labels): `rows` as features,
    as their row hashes (tuneguard.data.fingerprint), or a function returning those."""
    if callable(rows):
        rows = rows()
    hashes = rows if isinstance(rows, np.ndarray) else features_row_hashes(rows)
    return ordered_digest(hashes) >> (64 - _FP_BITS)


class StartGate:
    """One collective before the model loads: go on every rank, or stop on every rank."""

    def __init__(self, collectives: Collectives | None):
        self.coll = collectives
        self.passed = collectives is None

    def _exchange(self, code: int, fingerprint: int, resume_step: int) -> list[int]:
        if self.coll is None:
            raise RuntimeError("StartGate without collectives has nothing to exchange")
        self.passed = True
        rank_tag = self.coll.rank + 1 if code else 0
        # MAX of [code, rank+1, fp, -fp, step, -step]: equal values on every rank <=> max == -max(-x).
        return self.coll.all_max([code, rank_tag, fingerprint, -fingerprint, resume_step, -resume_step])

    def go(self, train_rows: TrainRows, resume_step: int) -> None:
        """This rank is ready; raise PeerRefused when any rank is not or they disagree.
        `train_rows` (data_fingerprint's) is read only when there is another rank."""
        if self.passed:
            return
        fp = data_fingerprint(train_rows)
        code, rank_tag, fp_max, fp_neg, step_max, step_neg = self._exchange(0, fp, resume_step)
        if code:
            log.info("process rank %d could not start (exit code %d); not loading the model", rank_tag - 1, code)
            raise PeerRefused(code, None if rank_tag - 1 == 0 else
                              f"process rank {rank_tag - 1} could not start (see its output above)")
        if fp_max != -fp_neg:
            raise PeerRefused(2, "the processes prepared different training data (same files and config on every "
                                 "node? the data files must be identical everywhere, e.g. on shared storage)")
        if step_max != -step_neg:
            raise PeerRefused(2, "the processes see different checkpoints to resume from: put the run directory "
                                 "on storage that every node shares (see docs/DISTRIBUTED.md)")

    def refuse(self, code: int) -> bool:
        """Tell the other ranks that this one cannot start (from an error handler).

        Returns True when this call took part in the gate (every rank then exits together),
        False when the gate had already been passed or there is no other rank.
        """
        if self.passed:
            return False
        try:
            self._exchange(max(1, int(code)), 0, 0)
        except Exception:
            log.debug("could not tell the other processes that this one failed", exc_info=True)
            return False
        return True

    def leave(self, timeout_s: float, exit_code: int = 0) -> None:
        """Wait until every rank is done before any exits.

        The launcher ends all workers as soon as one exits with an error (a guard halt exits
        1 on every rank): a rank that left first would cut rank 0 off while it writes the
        final state, the report and the last notifications. Called only on paths where all
        ranks are known to be at the same point (a finished loop, or the gate), or, after a
        failure, with a short `timeout_s`. With a nonzero `exit_code` the other ranks then
        also let rank 0 exit first (`Collectives.wait_for_exit`).
        """
        if self.coll is None:
            return
        try:
            self.coll.barrier(timeout_s)
        except Exception as exc:  # noqa: BLE001 - leaving anyway; the launcher reports the rest
            log.warning("not every process finished together: %s", exc)
            return
        if exit_code and self.coll.rank != 0:
            self.coll.wait_for_exit(0, min(timeout_s, 60.0))
