"""One model, one name (issue 27, item 7): an arena of local model directories names each
model as the Leaderboard does, in the reveal, the Leaderboard tab's export, the vote
exports and the ratings of `python -m evaluate.arena_ratings`; no file names a model by
its directory's path on the server. Real tiny models, a real vote, a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from arena import ensure_study, export_votes, join_study, load_votes, open_store, record_vote, start_battle
from engine.backend import local_tokens
from evaluate import arena_ratings
from tests.arena.conftest import transcript
from tests.ui.arena_setup import SHORT, pool  # noqa: F401  (pool: the arena tests' fixture)
from ui.arena import ArenaHandlers
from ui.arena_round import ArenaConfig, contestants


def _board_names(pool) -> set[str]:
    return {pool.public_contestant(contestant) for contestant in contestants(pool)}


def _without_paths(text: str, pool) -> None:
    for name in pool.names():
        assert name not in text and str(Path(name).parent) not in text


def test_the_reveal_the_exports_and_the_ratings_name_models_as_the_board(pool, tmp_path):
    store = open_store(str(tmp_path / "arena.db"))
    ensure_study(store, "default")
    handlers = ArenaHandlers(pool, store, ArenaConfig(), local_tokens, SHORT)
    *_, arena = handlers.join("Dr Sara", "", "", None, "en")
    for _ in arena.send("What is anemia?", [], SHORT):
        pass
    shown = handlers.vote("model_a", "clearer", "en", arena, "en")
    reveal = next(value for value in shown if isinstance(value, str))
    public = [pool.public_contestant(arena.battle.model_a), pool.public_contestant(arena.battle.model_b)]
    assert all(name in reveal for name in public) and "Local:" not in reveal
    assert set(public) <= _board_names(pool) and all("/" not in name for name in public)
    _without_paths(reveal, pool)

    tab = tmp_path / "tab"  # what the Leaderboard tab's export writes
    export_votes(store, jsonl=tab / "votes.jsonl", csv_path=tab / "votes.csv", study="default",
                 shown_name=pool.public_contestant)
    out = tmp_path / "ratings"
    app = typer.Typer()
    app.command()(arena_ratings.main)
    result = CliRunner().invoke(app, [
        "--db", str(tmp_path / "arena.db"), "--out", str(out), "--rounds", "5",
        "--export-jsonl", str(out / "votes.jsonl"), "--export-csv", str(out / "votes.csv")])
    assert result.exit_code == 0, result.output
    files = [*tab.iterdir(), *out.iterdir()]
    assert len(files) == 7
    for text in [result.stdout, *(path.read_text(encoding="utf-8-sig") for path in files)]:
        assert all(name in text for name in public)
        _without_paths(text, pool)


def test_votes_stored_under_a_path_show_by_the_directorys_own_name(tmp_path):
    """Battles stored before this fix name local models by their path: read back, they
    carry the name the pool gives that directory, an adapter's name kept."""
    store = open_store(str(tmp_path / "arena.db"))
    ensure_study(store, "pilot")
    rater = join_study(store, "pilot", "Dr Omar")
    models = ["/srv/models/tiny-llava", "/srv/models/tiny-llava:kind", "bimedix2-8b"]
    for index in range(3):
        battle = start_battle(store, rater, models, rng=index)
        record_vote(store, battle.id, rater, "model_a", transcript(reply="I am /srv/models/tiny-llava."),
                    transcript())
    names = {name for record in load_votes(store) for name in (record.model_a, record.model_b)}
    assert names <= {"tiny-llava", "tiny-llava:kind", "bimedix2-8b"} and len(names) >= 2
    assert all("/srv" not in (record.leak_reason or "") for record in load_votes(store))
    from arena.records import public_model_name

    assert public_model_name("openai:gpt-4o@http://gpu-box:8000/v1") == "gpt-4o"
    assert public_model_name(r"C:\models\tiny-llava:kind") == "tiny-llava:kind"
