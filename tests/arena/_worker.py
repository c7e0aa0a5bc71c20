"""Subprocess side of the multi-process arena tests (run from the project root).

    python -m tests.arena._worker write DB RATER_ID COUNT      # COUNT votes, one battle each
    python -m tests.arena._worker hold DB BATTLE_ID RATER_ID before|after   # stop at COMMIT
    python -m tests.arena._worker loop DB RATER_ID             # vote until killed
                                                              # (says "started" after the 1st)

`hold ... before` prints "held" once the whole vote is written inside the open transaction
and sleeps: the parent kills it between the last write and the commit. `hold ... after`
does the same just after the commit.
"""

from __future__ import annotations

import sys
import time

from sqlalchemy import event
from sqlalchemy.orm import Session

from arena import RaterInfo, open_store, record_vote, start_battle
from arena.tables import Rater
from tests.arena.conftest import MODELS, transcript

# Big enough (~1.6 MB per side) to overflow SQLite's page cache, so uncommitted pages are
# really written to the WAL file before the kill, not only held in memory.
LONG_REPLY = "Iron deficiency is the most common cause of anaemia. " * 30_000


def _rater(store, rater_id: int) -> RaterInfo:
    with store.read() as session:
        row = session.get(Rater, rater_id)
        return RaterInfo(row.id, row.study_id, row.study.name, row.display_name, row.created_at)


def write(db: str, rater_id: str, count: str) -> None:
    store = open_store(db, busy_timeout_s=60)
    rater = _rater(store, int(rater_id))
    for index in range(int(count)):
        battle = start_battle(store, rater, MODELS)
        record_vote(store, battle.id, rater, "tie", transcript(f"question {index}"), transcript(f"question {index}"))


def hold(db: str, battle_id: str, rater_id: str, moment: str) -> None:
    store = open_store(db, busy_timeout_s=60)

    @event.listens_for(Session, f"{moment}_commit")
    def _stop(session) -> None:
        print("held", flush=True)
        time.sleep(600)

    record_vote(store, battle_id, int(rater_id), "model_a", transcript(reply=LONG_REPLY),
                transcript(reply=LONG_REPLY))


def loop(db: str, rater_id: str) -> None:
    store = open_store(db, busy_timeout_s=60)
    rater = _rater(store, int(rater_id))
    announced = False
    while True:
        battle = start_battle(store, rater, MODELS)
        record_vote(store, battle.id, rater, "model_b", transcript(reply=LONG_REPLY[:200_000]),
                    transcript())
        if not announced:  # after the first commit: the parent's kill lands mid-stream
            print("started", flush=True)
            announced = True


if __name__ == "__main__":
    {"write": write, "hold": hold, "loop": loop}[sys.argv[1]](*sys.argv[2:])
