"""Arena leaderboard from the vote database, overall and per conversation language.

    python -m evaluate.arena_ratings --db URL [--out DIR] [--study NAME] [--include-flagged]
        [--rounds 1000] [--seed 0] [--export-jsonl F] [--export-csv F] [--export-raters humans|judges|all]

--db takes any SQLAlchemy URL (sqlite:///arena.db, postgresql://...) or a SQLite file
path; default: the app's own database (arena.store.default_data_dir()/arena.db).
Prints, per view (all, ar, en, mixed): rank, model, Bradley–Terry rating (with the weak
prior of arena/ratings.py) and its interval, online Elo, battles, wins/ties/losses and win
rate; a view below arena.leaderboard's minimum (10 votes, every model in 5 battles) is
marked provisional. The numbers are the Leaderboard tab's: both come from arena/.
Writes to --out: leaderboard.json (every view, with the win-rate matrices and the settings),
leaderboard.csv (every view's rows, a `language` column first) and win_rates.csv
(the overall matrix). Battles flagged for identity leaks are left out unless
--include-flagged; the exports always hold every vote.

LLM judges (raters "judge:<model>", arena/judges.py) are never counted in these boards. When
the store holds judge votes, a Judges section follows: each judge's own board and its
agreement with the raters (share of the raters' battles it re-judged where it chose the
same winner, "both bad" counted as a tie; Spearman's rank correlation of its ratings with
the raters'; share of verdicts that flipped with the order), and leaderboard.json gets a
"judges" key with the same. The exports hold the raters' votes unless --export-raters.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from sqlalchemy.engine import make_url

from arena.errors import ArenaError
from arena.export import export_votes
from arena.judges import JudgeAgreement, judge_agreement, judge_leaderboards, judge_rater_name
from arena.leaderboard import DEFAULT_ROUNDS, MIN_MODEL_BATTLES, MIN_VOTES, Leaderboard, store_leaderboards
from arena.store import database_url, open_store
from arena.study import get_study

VIEW_TITLES = {"all": "All conversations", "ar": "Arabic", "en": "English", "mixed": "Mixed Arabic/English"}


def format_table(board: Leaderboard) -> str:
    """The leaderboard as aligned text (what the CLI prints)."""
    title = (f"{VIEW_TITLES[board.language]}: {board.battles} battles"
             f" ({board.flagged_excluded} flagged for identity leaks left out)")
    if not board.rows:
        return f"{title}\n  no battles"
    frame = board.to_frame()
    for column in ("rating", "ci_low", "ci_high", "elo"):
        frame[column] = frame[column].map(lambda v: f"{v:.1f}")
    frame["win_rate"] = frame["win_rate"].map(lambda v: f"{v:.1%}")
    notes = [] if board.ratings_finite else [
        "some model never lost or never won against the others here, so the votes alone leave its "
        "Bradley–Terry rating unbounded (the prior holds it); collect more votes before reading these numbers."]
    if board.provisional:
        notes.append(f"provisional: fewer than {MIN_VOTES} votes, or a model in fewer than "
                     f"{MIN_MODEL_BATTLES} battles.")
    return f"{title}\n{frame.to_string(index=False)}" + "".join(f"\n  note: {note}" for note in notes)


def agreement_line(agreement: JudgeAgreement) -> str:
    """One judge's agreement with the raters, in a sentence."""
    name = judge_rater_name(agreement.judge_model)
    if agreement.compared:
        agreed = (f"{name} agreed with the raters on {agreement.agreed} of {agreement.compared} battles"
                  f" ({agreement.agreement:.0%})")
    else:
        agreed = f"{name} re-judged none of the raters' battles"
    rank = ("rank correlation n/a (fewer than 2 models in common, or tied ratings)"
            if agreement.rank_correlation is None else f"rank correlation {agreement.rank_correlation:.2f}")
    return f"{agreed}; {rank}; order flips {agreement.flip_rate:.0%} of {agreement.verdicts} verdicts"


def format_judges(boards: dict[str, Leaderboard], agreements: list[JudgeAgreement]) -> str:
    """The Judges section: each judge's board under its name, then its agreement."""
    lines = {a.judge_model: agreement_line(a) for a in agreements}
    parts = [f"Judges (LLM raters, not counted above)\n{'=' * 38}"]
    for judge, board in boards.items():
        parts.append(f"{judge_rater_name(judge)}\n{format_table(board)}\n  {lines[judge]}")
    return "\n\n".join(parts)


def write_outputs(boards: dict[str, Leaderboard], out: Path, judges: dict | None = None) -> list[Path]:
    """`judges`: {"boards": {judge model: Leaderboard}, "agreement": [JudgeAgreement]}, or None."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "leaderboard.json", out / "leaderboard.csv", out / "win_rates.csv"]
    saved = {lang: b.to_dict() for lang, b in boards.items()}
    if judges:  # only with judge votes: the file is otherwise as it always was
        saved["judges"] = {"boards": {judge: b.to_dict() for judge, b in judges["boards"].items()},
                           "agreement": [a.to_dict() for a in judges["agreement"]]}
    paths[0].write_text(json.dumps(saved, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    frames = [b.to_frame().assign(language=lang) for lang, b in boards.items() if b.rows]
    table = pd.concat(frames) if frames else boards["all"].to_frame().assign(language=[])
    table = table[["language", *table.columns.drop("language")]]
    table.to_csv(paths[1], index=False, encoding="utf-8-sig")  # BOM: see arena/export.py
    boards["all"].win_rates.to_csv(paths[2], encoding="utf-8-sig")
    return paths


def _existing_database(db: Optional[str]) -> str:
    url = database_url(db)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        raise typer.BadParameter(f"no arena database at {parsed.database}", param_hint="--db")
    return url


class RaterSet(str, Enum):
    humans = "humans"
    judges = "judges"
    all = "all"


def _judges(store, study: Optional[str], include_flagged: bool, rounds: int, seed: int,
            confidence: float) -> dict | None:
    """The judges' boards and agreement, or None when no judge has voted."""
    boards = judge_leaderboards(store, study, include_flagged=include_flagged, rounds=rounds, seed=seed,
                                confidence=confidence)
    if not boards:
        return None
    return {"boards": boards, "agreement": judge_agreement(store, study, include_flagged=include_flagged)}


def main(
    db: Annotated[Optional[str], typer.Option(help="SQLAlchemy URL or SQLite file; default: the app's arena.db")] = None,
    out: Annotated[Optional[Path], typer.Option(help="folder for leaderboard.json/.csv and win_rates.csv")] = Path("arena-ratings"),
    study: Annotated[Optional[str], typer.Option(help="only this study's votes (default: all studies)")] = None,
    include_flagged: Annotated[bool, typer.Option("--include-flagged", help="count battles whose replies named a model or vendor")] = False,
    rounds: Annotated[int, typer.Option(min=0, help="bootstrap rounds for the confidence intervals")] = DEFAULT_ROUNDS,
    seed: Annotated[int, typer.Option(help="bootstrap seed (same seed, same intervals)")] = 0,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="interval coverage")] = 0.95,
    export_jsonl: Annotated[Optional[Path], typer.Option(help="also write every vote with transcripts as JSONL")] = None,
    export_csv: Annotated[Optional[Path], typer.Option(help="also write every vote with transcripts as CSV (UTF-8 with BOM)")] = None,
    export_raters: Annotated[RaterSet, typer.Option(help="whose votes the exports hold: people's, LLM judges' or all")] = RaterSet.humans,
) -> None:
    """Print the arena leaderboard overall and per language; write it as JSON and CSV."""
    url = _existing_database(db)
    try:
        store = open_store(url)
        if study is not None:
            get_study(store, study)  # a misspelt name is an error, not an empty table
        boards = store_leaderboards(store, study, include_flagged=include_flagged, rounds=rounds,
                                    seed=seed, confidence=confidence)
        judges = _judges(store, study, include_flagged, rounds, seed, confidence)
        if export_jsonl or export_csv:
            count = export_votes(store, jsonl=export_jsonl, csv_path=export_csv, study=study,
                                 raters=export_raters.value)
            print(f"exported {count} votes", file=sys.stderr)
    except ArenaError as error:
        print(error.message("en"), file=sys.stderr)
        raise typer.Exit(1) from error
    print("\n\n".join(format_table(board) for board in boards.values()))
    if judges:
        print("\n\n" + format_judges(judges["boards"], judges["agreement"]))
    if out is not None:
        for path in write_outputs(boards, out, judges):
            print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
