"""Personal rater codes: created by the organiser, stored as digests only, the rater's name
taken from the code, revocable; and the organiser's command line."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from arena import (ArenaError, create_rater, ensure_study, join_study, join_with_code, list_raters, load_votes,
                   normalise_rater_code, open_store, record_vote, revoke_rater_code, start_battle,
                   study_has_personal_raters)
from arena import raters as raters_cli
from arena.rater_codes import CODE_ALPHABET
from tests.arena.conftest import MODELS, STUDY, transcript

ROOT = Path(__file__).resolve().parents[2]
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_the_name_comes_from_the_code_however_it_is_typed(store):
    ensure_study(store, STUDY)
    sara, code = create_rater(store, STUDY, "  Dr   Sara ")
    assert sara.display_name == "Dr Sara"
    plain = code.replace("-", "")
    assert len(plain) == 10 and set(plain) <= set(CODE_ALPHABET) and code.count("-") == 2
    typed = [code, code.lower(), f"  {plain[:5]} {plain[5:]} ", code.replace("-", "–"),
             code.translate(ARABIC_INDIC)]  # an Arabic keyboard's digits
    for variant in typed:
        joined = join_with_code(store, STUDY, variant)
        assert (joined.id, joined.display_name) == (sara.id, "Dr Sara"), variant
    assert normalise_rater_code(code.lower()) == plain
    for wrong in ("", "   ", plain[:-1], "AAAA-AAAA-AA"):
        with pytest.raises(ArenaError) as refused:
            join_with_code(store, STUDY, wrong)
        assert refused.value.code == "rater_code_invalid"


def test_codes_are_random_and_open_only_their_own_study(store):
    ensure_study(store, STUDY)
    ensure_study(store, "other")
    codes = {create_rater(store, STUDY, f"Rater {index}")[1] for index in range(20)}
    assert len(codes) == 20
    _, elsewhere = create_rater(store, "other", "Dr Sara")
    with pytest.raises(ArenaError) as refused:
        join_with_code(store, STUDY, elsewhere)
    assert refused.value.code == "rater_code_invalid"


def test_a_typed_name_cannot_take_a_coded_raters_place(store):
    ensure_study(store, STUDY)
    bob, _ = create_rater(store, STUDY, "Bob")
    assert study_has_personal_raters(store, STUDY)
    for typed in ("  BOB ", "bob", "Bob", "Someone New"):
        with pytest.raises(ArenaError) as refused:
            join_study(store, STUDY, typed)
        assert refused.value.code == "rater_code_required"
    message = ArenaError("rater_code_required")
    assert "personal code" in message.message("en") and "الرمز الشخصي" in message.message("ar")
    ensure_study(store, "open")  # a study without codes still takes names
    assert not study_has_personal_raters(store, "open")
    assert join_study(store, "open", "  BOB ").display_name == "BOB"


def test_the_study_code_is_not_checked_once_names_are_refused(store):
    """A refused name-only join says nothing about whether the typed study code was right."""
    ensure_study(store, STUDY, access_code="4711")
    create_rater(store, STUDY, "Bob")
    for code in ("4711", "0000", None):
        with pytest.raises(ArenaError) as refused:
            join_study(store, STUDY, "Bob", access_code=code)
        assert refused.value.code == "rater_code_required"


def test_the_code_is_stored_only_as_its_digest(tmp_path):
    path = tmp_path / "arena.db"
    store = open_store(path)
    ensure_study(store, STUDY)
    _, code = create_rater(store, STUDY, "Dr Sara")
    plain = code.replace("-", "")
    with store.read() as session:
        (digest,) = session.execute(text("SELECT code_digest FROM arena_rater_codes")).one()
    assert digest == hashlib.sha256(plain.encode()).hexdigest()
    # The database and its write-ahead log while open, and the database once closed.
    contents = [p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("arena.db")]
    store.close()
    contents.append(path.read_bytes())
    assert len(contents) >= 3
    for content in contents:
        for form in (code, plain, code.lower(), plain.lower()):
            assert form.encode() not in content and form.encode("utf-16-le") not in content
    assert digest.encode() in contents[-1]


def test_early_databases_get_the_codes_table(tmp_path):
    from tests.arena.test_migrations import at_revision_one_with_data

    path = tmp_path / "old.db"
    at_revision_one_with_data(str(path))  # Dr Sara joined the pilot study by name
    store = open_store(path)
    old = join_study(store, STUDY, "Dr Sara")
    with store.write() as session:  # as made before personal codes (and before migrations)
        session.execute(text("DROP TABLE arena_rater_codes"))
        session.execute(text("DROP TABLE alembic_version"))
        session.execute(text("DROP TABLE arena_judge_verdicts"))
    store.close()
    reopened = open_store(path)
    sara, code = create_rater(reopened, STUDY, "dr sara")  # the rater who joined by name
    assert sara.id == old.id and join_with_code(reopened, STUDY, code).id == old.id
    reopened.close()


def test_a_revoked_code_is_refused_and_a_new_one_issued(store):
    ensure_study(store, STUDY)
    sara, code = create_rater(store, STUDY, "Dr Sara")
    with pytest.raises(ArenaError) as twice:
        create_rater(store, STUDY, "DR SARA")
    assert twice.value.code == "rater_has_code"
    battle = start_battle(store, sara, MODELS, rng=1)  # an open session, before the revocation
    assert revoke_rater_code(store, STUDY, " dr  sara ") is True
    assert revoke_rater_code(store, STUDY, "Dr Sara") is False  # nothing left to revoke
    for attempt in (lambda: join_with_code(store, STUDY, code),
                    lambda: start_battle(store, sara, MODELS),
                    lambda: record_vote(store, battle.id, sara, "tie", transcript(), transcript())):
        with pytest.raises(ArenaError) as refused:
            attempt()
        assert refused.value.code == "rater_code_invalid"
    assert load_votes(store, STUDY) == []
    with pytest.raises(ArenaError) as joined:  # revoking the last code does not reopen the study
        join_study(store, STUDY, "Dr Sara")
    assert joined.value.code == "rater_code_required"
    again, fresh = create_rater(store, STUDY, "Dr Sara")
    assert again.id == sara.id and fresh != code
    assert join_with_code(store, STUDY, fresh).id == sara.id
    with pytest.raises(ArenaError):
        join_with_code(store, STUDY, code)
    with pytest.raises(ArenaError) as unknown:
        revoke_rater_code(store, STUDY, "Nobody")
    assert unknown.value.code == "rater_unknown"


def test_the_rater_list_shows_each_codes_state_never_the_code(store):
    ensure_study(store, STUDY)
    join_study(store, STUDY, "Early Bird")  # joined by name, before codes
    create_rater(store, STUDY, "Dr Sara")
    create_rater(store, STUDY, "Dr Omar")
    revoke_rater_code(store, STUDY, "Dr Omar")
    listed = list_raters(store, STUDY)
    assert [(r.display_name, r.code_state) for r in listed] == [
        ("Early Bird", "none"), ("Dr Sara", "active"), ("Dr Omar", "revoked")]
    assert listed[1].code_issued_at is not None and listed[2].code_revoked_at is not None


def test_the_command_line_adds_lists_and_revokes(tmp_path, capsys):
    db = str(tmp_path / "cli.db")
    assert raters_cli.main(["--db", db, "--study", "clinic", "add", "Dr Sara"]) == 0
    name, code = capsys.readouterr().out.strip().split(": ")
    assert name == "Dr Sara"
    store = open_store(db)
    assert join_with_code(store, "clinic", code).display_name == "Dr Sara"
    assert raters_cli.main(["--db", db, "--study", "clinic", "add", "dr sara"]) == 1
    assert "already has a personal code" in capsys.readouterr().err
    assert raters_cli.main(["--db", db, "--study", "clinic", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Dr Sara" in listing and "active" in listing and code not in listing
    assert raters_cli.main(["--db", db, "--study", "clinic", "revoke", "DR SARA"]) == 0
    assert "Revoked" in capsys.readouterr().out
    with pytest.raises(ArenaError):
        join_with_code(store, "clinic", code)
    assert raters_cli.main(["--db", db, "--study", "missing", "--lang", "ar", "list"]) == 1
    assert "لا توجد دراسة" in capsys.readouterr().err
    store.close()


def test_the_command_line_runs_as_a_module(tmp_path):
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "arena.raters",
                             "--db", str(tmp_path / "m.db"), "add", "Dr Sara"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Dr Sara: ") and "Shown only now" in result.stderr
