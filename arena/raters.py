"""The organiser's rater list from the command line: add raters with personal codes, list
them, revoke a code.

    python -m arena.raters [--db URL] [--study NAME] add "Dr Sara"     # prints the code once
    python -m arena.raters [--db URL] [--study NAME] list
    python -m arena.raters [--db URL] [--study NAME] revoke "Dr Sara"

--db: any SQLAlchemy URL or SQLite file (default: $BIMEDIX_ARENA_DB, else the app's own
arena.db); --study: default $BIMEDIX_ARENA_STUDY, else "default" (as app.py). `add`
creates the study when it does not exist yet, so raters can be set up before the app
first starts. A lost code cannot be shown again (only its digest is stored): revoke it
and add the rater again for a new one; their earlier votes stay theirs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from arena.errors import ArenaError
from arena.rater_codes import create_rater, list_raters, revoke_rater_code
from arena.store import ArenaStore, open_store
from arena.study import ensure_study


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m arena.raters",
                                     description="Add raters with personal codes, list them, revoke codes.")
    parser.add_argument("--db", default=os.environ.get("BIMEDIX_ARENA_DB"),
                        help="SQLAlchemy URL or SQLite file (default: the app's arena.db)")
    parser.add_argument("--study", default=os.environ.get("BIMEDIX_ARENA_STUDY", "default"),
                        help="the study (default: %(default)s)")
    parser.add_argument("--lang", choices=("en", "ar"), default="en", help="language of error messages")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a rater and print their personal code (shown only once)")
    add.add_argument("name", help="the rater's display name, as it will appear in the results")
    commands.add_parser("list", help="every rater of the study and the state of their code")
    revoke = commands.add_parser("revoke", help="revoke a rater's personal code")
    revoke.add_argument("name", help="the rater's display name (case and spaces do not matter)")
    return parser


def _add(store: ArenaStore, study: str, name: str) -> None:
    ensure_study(store, study)
    rater, code = create_rater(store, study, name)
    print(f"{rater.display_name}: {code}")
    print("Shown only now: give it to the rater privately. If it is lost, revoke it and add "
          "the rater again.", file=sys.stderr)


def _list(store: ArenaStore, study: str) -> None:
    raters = list_raters(store, study)
    if not raters:
        print(f"No raters in study {study!r} yet.")
        return
    width = max(len(r.display_name) for r in raters)
    for rater in raters:
        issued = rater.code_issued_at.strftime("%Y-%m-%d %H:%M UTC") if rater.code_issued_at else ""
        print(f"{rater.display_name:<{width}}  {rater.code_state:<7}  {issued}")


def _revoke(store: ArenaStore, study: str, name: str) -> None:
    if revoke_rater_code(store, study, name):
        print(f"Revoked the personal code of {name!r}.")
    else:
        print(f"{name!r} has no active personal code; nothing to revoke.")


def _run(args: argparse.Namespace) -> None:
    store = open_store(args.db)
    try:
        if args.command == "add":
            _add(store, args.study, args.name)
        elif args.command == "list":
            _list(store, args.study)
        else:
            _revoke(store, args.study, args.name)
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _run(args)
    except ArenaError as error:  # no such study, a name already coded, a busy database...
        print(error.message(args.lang), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
