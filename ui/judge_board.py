"""The Leaderboard tab's Judges section: each LLM judge's own ratings beside the raters', and
how far it agrees with them (arena/judges.py), in the interface language.

Judges are raters "judge:<model>" whose votes never enter the raters' board; this section
is the only place the tab shows them. It is one Markdown rather than a table per judge:
how many judges there are is known only from the votes, and a Markdown holds any number
of tables without components made in advance. Nothing is shown while no judge has voted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pandas as pd

from arena import ArenaStore, Leaderboard, battles_frame, judge_rater_name, load_votes
from arena.judges import JudgeAgreement, JudgeVote, agreement_of, judge_boards, load_judge_votes
from arena.leaderboard import COLUMNS, MIN_MODEL_BATTLES, MIN_VOTES
from arena.records import VoteRecord
from ui.common import markdown_escaped
from ui.icons import icon
from ui.strings import text

CACHED_SECTIONS = 16
# An isolated left-to-right run (U+2066 ... U+2069): a name such as "judge:gpt-4o", a share
# or a negative correlation reads as in English inside an Arabic sentence.
LTR_ISOLATE = "\u2066{}\u2069"


def public_judge(judge_model: str) -> str:
    """A judge as the public page names it: no server address ("openai:gpt-4o@http://host/v1"
    is "openai:gpt-4o") and no local folders ("/models/qwen" is "qwen"), as contestants."""
    name = judge_model.split("@", 1)[0]
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] if "/" in name or "\\" in name else name


def _ltr(value: str, lang: str) -> str:
    return LTR_ISOLATE.format(value) if lang == "ar" else value


def agreement_text(agreement: JudgeAgreement, lang: str) -> str:
    """"judge:gpt-4o agreed with the raters on 41 of 50 battles (82%); rank correlation
    0.90; order flips 12%." in `lang`."""
    judge = _ltr(markdown_escaped(judge_rater_name(public_judge(agreement.judge_model))), lang)
    if agreement.compared:
        agreed = text("lb_judge_agreed", lang).format(
            judge=judge, agreed=agreement.agreed, compared=agreement.compared,
            share=_ltr(f"{agreement.agreement:.0%}", lang))
    else:
        agreed = text("lb_judge_not_compared", lang).format(judge=judge)
    rank = (text("lb_judge_rank_none", lang) if agreement.rank_correlation is None else
            text("lb_judge_rank", lang).format(rho=_ltr(f"{agreement.rank_correlation:.2f}", lang)))
    flips = text("lb_judge_flips", lang).format(rate=_ltr(f"{agreement.flip_rate:.0%}", lang))
    return text("lb_judge_line", lang).format(agreement=agreed, rank=rank, flips=flips)


def _cell(column: str, value) -> str:
    if column in ("rating", "ci_low", "ci_high", "elo"):
        return f"{value:.1f}"
    return f"{value:.3f}" if column == "win_rate" else str(value)


def board_markdown(board: Leaderboard, lang: str, shown_name: Callable[[str], str] = str) -> str:
    """One judge's board as a Markdown table, headers in `lang` (the raters' table's)."""
    if not board.rows:
        return text("lb_empty", lang)
    headers = [text(f"lb_col_{column}", lang) for column in COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in board.to_frame().itertuples(index=False):
        cells = [markdown_escaped(shown_name(value)) if column == "model" else _cell(column, value)
                 for column, value in zip(COLUMNS, row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section_markdown(boards: dict[str, Leaderboard], agreements: list[JudgeAgreement], lang: str,
                     shown_name: Callable[[str], str] = str) -> str:
    """The whole section: heading, what the numbers mean, then per judge its agreement line
    and its board ("" when no judge has voted)."""
    if not boards:
        return ""
    lines = {agreement.judge_model: agreement_text(agreement, lang) for agreement in agreements}
    parts = [f"### {text('lb_judges', lang)}", text("lb_judges_intro", lang)]
    for judge, board in boards.items():
        notes = [text("lb_judge_votes", lang).format(battles=board.battles)]
        if board.provisional:
            notes.append(icon("warning", lang) + " " + text("lb_too_few", lang).format(votes=MIN_VOTES, battles=MIN_MODEL_BATTLES))
        parts += [f"#### {_ltr(markdown_escaped(judge_rater_name(public_judge(judge))), lang)}",
                  lines.get(judge, ""), " ".join(notes), board_markdown(board, lang, shown_name)]
    return "\n\n".join(part for part in parts if part)


def _digest(humans: list[VoteRecord], judges: list[JudgeVote]) -> bytes:
    """What the section is computed from: a new vote or verdict gives a new digest."""
    frames = [battles_frame(humans), battles_frame([vote.record for vote in judges]).assign(
        judge=[v.judge_model for v in judges], source=[v.source_battle_id for v in judges],
        flipped=[v.flipped for v in judges])]
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.digest()


class JudgeSection:
    """The section's Markdown for one study, computed once per set of votes and view (each
    judge's board is a bootstrap of its own)."""

    def __init__(self, store: ArenaStore, study: str, rounds: int, shown_name: Callable[[str], str] = str):
        self.store, self.study, self.rounds, self.shown_name = store, study, rounds, shown_name
        self._views: dict[tuple, tuple[dict[str, Leaderboard], list[JudgeAgreement]]] = {}
        self._lock = threading.Lock()  # handlers run in Gradio's worker threads

    def markdown(self, language: str, include_flagged: bool, lang: str) -> str:
        """The section in `lang` for this view; "" while no judge has voted. Raises
        UserFacingError (e.g. the database is busy)."""
        judges = load_judge_votes(self.store, self.study)
        if not judges:
            return ""
        humans = load_votes(self.store, self.study, include_flagged=True)
        key = (language, include_flagged, len(humans), len(judges), _digest(humans, judges))
        with self._lock:
            view = self._views.get(key)
        if view is None:
            view = (judge_boards(judges, language, include_flagged=include_flagged, rounds=self.rounds),
                    agreement_of(humans, judges, language, include_flagged=include_flagged))
            with self._lock:
                while len(self._views) >= CACHED_SECTIONS:
                    self._views.pop(next(iter(self._views)))  # the oldest
                self._views[key] = view
        return section_markdown(*view, lang, self.shown_name)
