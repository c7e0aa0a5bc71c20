"""The organiser's progress table (Leaderboard tab, behind the organiser code) as shown: its
headers, its code states and its times in the interface language.

The rows are kept as arena/ gives them (arena.progress.RaterProgress plus the state of each
personal code), so a language switch renders the same rows again without asking for the
organiser code a second time.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from arena.progress import RaterProgress
from ui.strings import text

PROGRESS_COLUMNS = ("display_name", "battles_started", "votes", "flagged_votes", "last_activity", "personal_code")


def progress_rows(progress: list[RaterProgress], code_states: dict[int, str]) -> list[dict]:
    """One plain row per rater, arena/'s names and values: what a language switch re-renders."""
    return [{"display_name": row.display_name, "battles_started": row.battles_started, "votes": row.votes,
             "flagged_votes": row.flagged_votes, "last_activity": row.last_activity,
             "personal_code": code_states.get(row.rater_id, "none")} for row in progress]


def shown_time(moment: datetime | None, lang: str) -> str:
    """"2026-12-07 02:31 UTC" (in Arabic the same date and time, read left to right, then
    "بالتوقيت العالمي"). A time without a zone is the store's UTC (SQLite drops the zone)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return text("admin_time", lang).format(when=moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"))


def progress_frame(rows: list[dict], lang: str) -> pd.DataFrame:
    """The table in `lang`: translated headers and code states, readable times."""
    shown = [{**row, "last_activity": shown_time(row["last_activity"], lang),
              "personal_code": text(f"admin_code_{row['personal_code']}", lang)} for row in rows]
    frame = pd.DataFrame(shown, columns=list(PROGRESS_COLUMNS))
    return frame.rename(columns={column: text(f"admin_col_{column}", lang) for column in PROGRESS_COLUMNS})
