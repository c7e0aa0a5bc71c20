"""`python -m train.review codes ...`: the organiser's list of reviewers and their codes.

    python -m train.review codes add "Dr Amal" --db translated/translation.db   # prints the code once
    python -m train.review codes list --db translated/translation.db
    python -m train.review codes revoke "Dr Amal" --db translated/translation.db

(`--db` may also come first: `python -m train.review --db FILE codes list`.) A lost code
cannot be shown again (only its digest is stored): revoke it and add the reviewer again for
a new one; their earlier decisions stay theirs. Revoking works while the screen runs: the
reviewer's open page is refused at its next action, and their sample goes back to the queue.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from train.translate.errors import TranslationError
from train.translate.reviewers import add_reviewer, list_reviewers, revoke_reviewer
from train.translate.store import TranslationStore, store_url

codes_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Add reviewers with personal codes, list them, revoke codes.")

DbOption = Annotated[Optional[str], typer.Option("--db", help="the translation database: a SQLAlchemy URL or a "
                                                              "SQLite file")]
SHOWN_ONCE = ("Shown only now: give it to the reviewer privately. If it is lost, revoke it and add them again.",
              "يُعرض الآن فقط: سلّمه للمراجع على انفراد. إن ضاع فألغِه وأضف المراجع من جديد.")


@codes_app.command("add")
def add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="the reviewer's name, as decisions show it")],
        db: DbOption = None) -> None:
    """Add a reviewer and print their personal code (shown only once)."""
    with _store(ctx, db) as store:
        stored, code = add_reviewer(store, name)
    typer.echo(f"{stored}: {code}")
    typer.echo("\n".join(SHOWN_ONCE), err=True)


@codes_app.command("list")
def list_(ctx: typer.Context, db: DbOption = None) -> None:
    """Every reviewer and the state of their code (never the code)."""
    with _store(ctx, db) as store:
        reviewers = list_reviewers(store)
    if not reviewers:
        typer.echo("No reviewers yet. · لا يوجد مراجعون بعد.")
        return
    width = max(len(r.name) for r in reviewers)
    for reviewer in reviewers:
        typer.echo(f"{reviewer.name:<{width}}  {reviewer.code_state:<7}  "
                   f"{reviewer.code_issued_at.strftime('%Y-%m-%d %H:%M UTC')}")


@codes_app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="the reviewer's name (case and spaces "
                                                                        "do not matter)")],
           db: DbOption = None) -> None:
    """Revoke a reviewer's code: it signs nobody in, and their open page is refused."""
    with _store(ctx, db) as store:
        revoked = revoke_reviewer(store, name)
    if revoked:
        typer.echo(f"Revoked the code of {name!r}. · أُلغي رمز {name!r}.")
    else:
        typer.echo(f"{name!r} has no active code; nothing to revoke. · لا يملك {name!r} رمزًا فعّالًا.")


@contextmanager
def _store(ctx: typer.Context, db: str | None) -> Iterator[TranslationStore]:
    """The review database for one command; a person's error ends it with exit code 2."""
    try:
        store = open_review_store(db or ctx.find_root().params.get("db") or "")
    except (ValueError, OSError) as error:
        _fail(f"error: {error}")
    except TranslationError as error:
        _fail(f"error: {error.message('en')}\n{error.message('ar')}")
    try:
        yield store
    except TranslationError as error:  # a name already coded, an unknown name, a busy database
        _fail(f"error: {error.message('en')}\n{error.message('ar')}")
    finally:
        store.close()


def _fail(text: str) -> None:
    typer.echo(text, err=True)
    raise typer.Exit(2)


def open_review_store(db: str) -> TranslationStore:
    """The pipeline's database. A file that is not there, or holds no translation tables,
    is a typo: opening it would make an empty queue (and add tables to someone's file).
    A translation database made before reviewer codes gains their table here."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    if not db:
        raise ValueError("give --db (the translation database)")
    if "://" not in db and not Path(db).expanduser().is_file():
        raise FileNotFoundError(f"{db}: no such database file (python -m train.translate makes it)")
    url = store_url(db, None)
    try:
        engine = create_engine(url)
        try:
            ours = inspect(engine).has_table("translation_samples")
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError) as error:
        raise ValueError(f"{db}: cannot be opened ({getattr(error, 'orig', None) or error})") from None
    if not ours:
        raise ValueError(f"{db}: not a translation database (python -m train.translate makes it)")
    return TranslationStore(url)


def launch_notes(store: TranslationStore, db: str, reviewer_option: str | None) -> list[str]:
    """What the organiser should know when the screen starts (each in both languages)."""
    notes = []
    if reviewer_option is not None:
        notes.append("--reviewer is no longer used: each reviewer signs in with their personal code.\n"
                     "لم يعد --reviewer مستخدمًا: يدخل كل مراجع برمزه الشخصي.")
    if not any(r.code_state == "active" for r in list_reviewers(store)):
        notes.append(f"No reviewer has a code yet: add each with  python -m train.review codes add NAME --db {db}\n"
                     f"لا يملك أي مراجع رمزًا بعد: أضف كل مراجع بالأمر  python -m train.review codes add NAME --db {db}")
    return notes
