"""`python -m train.review`: the screen where bilingual medical reviewers check translations.

    python -m train.review --db out/translation.db --reviewer "Dr Amal" [--port 7870]

The queue is the translation pipeline's (train/translate/store.py): samples still under the
score threshold after every round, then the random sample of high scorers. Each reviewer
gets a sample nobody else holds (the store's 30-minute claim), sees why it is here and
every round's score, and the English source beside the Arabic, which they may edit.
Approve stores the edited Arabic once it passes the same checks as the pipeline's
translations (numbers, units, drug names, <image> placeholders, every segment); Reject
stores a rejection. Either way the decision is one transaction, and the next sample loads.

Start / Next with a sample on the screen skips it for the next one: the skipped one goes
back to the queue at once (another reviewer may take it), and comes back to this reviewer
when nothing else waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import gradio as gr
import typer

from train.review_view import (CSS, STRINGS, bilingual_html, box_lines, edited_arabic, english_html, label, notice,
                               progress_html, sample_html, sample_view, untranslated)
from train.translate.checks import load_keep_terms, translation_problems
from train.translate.errors import TranslationError
from train.translate.store import REVIEWER_NAME_LIMIT, TranslationStore, checked_reviewer, store_url

KEEP = object()  # an Outcome's view: leave the sample (and the reviewer's edits) on the screen
# Refusals after which the sample on the screen cannot be decided any more: go on to the next.
MOVE_ON = frozenset({"already_reviewed", "claimed_by_other", "sample_not_found"})


@dataclass(frozen=True)
class Outcome:
    """What a button leaves on the screen."""

    view: object  # the sample's view (train/review_view.py), None (no sample), or KEEP
    progress: str | None  # the progress HTML; None: unchanged
    message: str  # HTML; "" clears the last message
    problem: str | None = None  # an error's text, also shown as a toast (the page may be scrolled down)


def _both(error: TranslationError) -> tuple[str, str]:
    return error.message("en"), error.message("ar")


class ReviewHandlers:
    """The screen's actions, as plain functions of (what is shown, what was typed)."""

    def __init__(self, store: TranslationStore, keep_terms: frozenset[str] = frozenset()):
        self.store, self.keep_terms = store, keep_terms

    def start(self, name: str | None, shown: dict | None) -> Outcome:
        """Claim the next sample for `name` (skipping the one on the screen, if theirs)."""
        try:
            reviewer = checked_reviewer(name if isinstance(name, str) else None)
            skip = [shown["sample_id"]] if shown and shown["reviewer"] == reviewer else []
            return self._load_next(reviewer, skip)
        except TranslationError as error:
            return self._error(error)

    def approve(self, shown: dict | None, comment: str | None, texts) -> Outcome:
        """Store the (edited) Arabic, if it keeps what a translation must keep."""
        if not shown:
            return Outcome(KEEP, None, bilingual_html(notice("no_sample"), "error"), notice("no_sample")[0])
        arabic = edited_arabic(shown, texts)
        problems = translation_problems(shown["english"], arabic, self.keep_terms)
        problems += untranslated(shown, arabic, self.keep_terms)
        try:
            if problems:
                # Isolated (FSI…PDI): the English list keeps its order inside the Arabic sentence.
                raise TranslationError("edit_refused", problems="\u2068" + "; ".join(problems) + "\u2069")
            review = self.store.record_review(shown["sample_id"], shown["reviewer"], "approved", shown["before"],
                                              arabic, _text(comment))
        except TranslationError as error:
            return self._refused(shown, error)
        done = notice("saved_approved", sample=shown["sample_id"], edited=len(review.edited_keys))
        return self._after_decision(shown, done)

    def reject(self, shown: dict | None, comment: str | None) -> Outcome:
        """Store a rejection (no checks: the reviewer says the translation is not usable)."""
        if not shown:
            return Outcome(KEEP, None, bilingual_html(notice("no_sample"), "error"), notice("no_sample")[0])
        try:
            self.store.record_review(shown["sample_id"], shown["reviewer"], "rejected", shown["before"], None,
                                     _text(comment))
        except TranslationError as error:
            return self._refused(shown, error)
        return self._after_decision(shown, notice("saved_rejected", sample=shown["sample_id"]))

    # --- helpers ---------------------------------------------------------------------------

    def _after_decision(self, shown: dict, done: tuple[str, str]) -> Outcome:
        """The decision is stored: the next sample, or why none is shown (the store being
        busy now does not undo the decision, so the message says both)."""
        saved = bilingual_html(done, "done")
        try:
            return self._load_next(shown["reviewer"], said=saved)
        except TranslationError as error:
            return Outcome(None, None, saved + bilingual_html(_both(error), "error"), error.message("en"))

    def _refused(self, shown: dict, error: TranslationError) -> Outcome:
        """Nothing was stored. The sample stays with its edits, unless it cannot be decided
        any more (reviewed or taken by someone else): then the next one comes."""
        if error.code not in MOVE_ON:
            return self._error(error)
        said = bilingual_html(_both(error), "error")
        try:
            outcome = self._load_next(shown["reviewer"], [shown["sample_id"]], said)
        except TranslationError as later:
            return Outcome(KEEP, None, said + bilingual_html(_both(later), "error"), later.message("en"))
        return Outcome(outcome.view, outcome.progress, outcome.message, error.message("en"))

    def _load_next(self, reviewer: str, skip: list[str] | tuple = (), said: str = "") -> Outcome:
        sample = self.store.claim_next(reviewer, skip)
        if sample is None and skip:  # only the skipped one is left: back to it
            sample = self.store.claim_next(reviewer)
            said = said or bilingual_html(notice("only_this_one"))
        if sample is None:
            return Outcome(None, self._progress(), said + bilingual_html(notice("queue_empty"), "done"))
        for skipped in skip:  # given back: another reviewer may take it at once
            if skipped != sample.id:
                self.store.release(skipped, reviewer)
        view = sample_view(sample, self.store.rounds(sample.id), reviewer)
        return Outcome(view, self._progress(), said)

    def _progress(self) -> str:
        return progress_html(self.store.review_queue_size(), self.store.reviewer_progress())

    @staticmethod
    def _error(error: TranslationError) -> Outcome:
        return Outcome(KEEP, None, bilingual_html(_both(error), "error"), error.message("en"))


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _outputs(outcome: Outcome) -> tuple:
    """An Outcome as the values of (shown sample, progress, message)."""
    if outcome.problem:
        gr.Warning(outcome.problem)
    return (gr.skip() if outcome.view is KEEP else outcome.view,
            gr.skip() if outcome.progress is None else outcome.progress, outcome.message)


# --- the screen ----------------------------------------------------------------------------

def build_review_app(store: TranslationStore, reviewer: str | None = None,
                     keep_terms: frozenset[str] = frozenset()) -> gr.Blocks:
    """The review screen. Nothing from the database is shown before a name is given; the
    name lives in this tab's session only."""
    handlers = ReviewHandlers(store, keep_terms)
    with gr.Blocks(title=label("title")) as demo:
        gr.HTML(f"<h2>{label('title')}</h2>")
        with gr.Row(equal_height=True):
            name = gr.Textbox(value=reviewer or "", label=label("name"), max_length=REVIEWER_NAME_LIMIT,
                              elem_id="rv-name", scale=3)
            start = gr.Button(label("start"), variant="primary", elem_id="rv-start", scale=1)
        progress = gr.HTML(elem_id="rv-progress")
        message = gr.HTML(bilingual_html(notice("intro")), elem_id="rv-message")
        shown = gr.State(None)
        outputs = [shown, progress, message]

        def on_start(typed: str, view: dict | None):
            return _outputs(handlers.start(typed, view))

        start.click(on_start, [name, shown], outputs)
        name.submit(on_start, [name, shown], outputs)

        @gr.render(inputs=[shown])
        def sample_screen(view: dict | None):
            if view:
                _sample_layout(view, handlers, outputs)
    return demo


def _sample_layout(view: dict, handlers: ReviewHandlers, outputs: list) -> None:
    """One sample: its heading, a row per segment (English left, editable Arabic right),
    the comment, and the decisions. The decisions hold the view they were drawn with, so
    a click that arrives after the screen moved on names the sample the person saw."""
    gr.HTML(sample_html(view), elem_id="rv-sample")
    with gr.Row(elem_classes=["rv-columns"]):
        gr.HTML(f"<h4 dir=\"ltr\">{label('english_column')}</h4>")
        gr.HTML(f"<h4 dir=\"rtl\">{label('arabic_column')}</h4>")
    boxes = []
    for n, key in enumerate(view["keys"]):
        with gr.Row(equal_height=False, elem_classes=["rv-segment"]):
            gr.HTML(english_html(view["labels"][key], view["english"][key]), elem_id=f"rv-en-{n}")
            start_text = view["start"][key]
            boxes.append(gr.Textbox(value=start_text, label=f"{view['labels'][key]} · {STRINGS['arabic_box'][1]}",
                                    rtl=True, text_align="right", lines=box_lines(start_text), max_lines=40,
                                    interactive=True, elem_id=f"rv-ar-{n}", elem_classes=["rv-ar"]))
    comment = gr.Textbox(label=label("comment"), lines=2, elem_id="rv-comment")
    with gr.Row():
        approve = gr.Button(label("approve"), variant="primary", elem_id="rv-approve")
        reject = gr.Button(label("reject"), variant="stop", elem_id="rv-reject")

    def on_approve(comment_text: str, *texts: str):
        return _outputs(handlers.approve(view, comment_text, texts))

    def on_reject(comment_text: str):
        return _outputs(handlers.reject(view, comment_text))

    approve.click(on_approve, [comment, *boxes], outputs)
    reject.click(on_reject, [comment], outputs)


# --- the command ---------------------------------------------------------------------------

app = typer.Typer(add_completion=False)


@app.command()
def main(
    db: Annotated[str, typer.Option(help="the translation database: a SQLAlchemy URL or a SQLite file")],
    reviewer: Annotated[Optional[str], typer.Option(help="prefill the reviewer's name")] = None,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 7870,
    keep_terms: Annotated[Optional[Path], typer.Option(help="the pipeline's --keep-terms file (names kept in Latin)")] = None,
    auth: Annotated[Optional[list[str]], typer.Option(metavar="USER:PASSWORD", help="require this login (repeatable); needed beyond loopback")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="serve beyond loopback without a login, on purpose")] = False,
) -> None:
    """Serve the translation review screen."""
    from ui.assets import asset_file, font_face_css, theme
    from ui.security import app_kwargs

    try:
        logins = _logins(host, auth or [], no_auth)
        store = _open_store(db)
        terms = load_keep_terms(keep_terms)
    except (ValueError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except TranslationError as error:
        typer.echo(f"error: {error.message('en')}\n{error.message('ar')}", err=True)
        raise typer.Exit(2) from None
    demo = build_review_app(store, reviewer, terms)
    demo.queue(default_concurrency_limit=8)
    # run_history=False: no decision or name is kept in the browser's storage after the tab closes.
    demo.launch(server_name=host, server_port=port, auth=logins or None, css=font_face_css() + CSS, theme=theme(),
                run_history=False, footer_links=[], app_kwargs=app_kwargs(assets=asset_file))


def _logins(host: str, auth: list[str], no_auth: bool) -> list[tuple[str, str]]:
    """The logins to require; the samples are medical, so the network needs one (as app.py)."""
    from engine.network import is_loopback

    pairs = [tuple(value.split(":", 1)) for value in auth]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise ValueError("--auth takes USER:PASSWORD")
    if not (pairs or no_auth or is_loopback(host)):
        raise ValueError(f"--host {host} serves the review screen to the network with no login. "
                         "Give --auth USER:PASSWORD (repeatable), or --no-auth if it is meant to be open.")
    return pairs


def _open_store(db: str) -> TranslationStore:
    """The pipeline's database. A file that is not there, or holds no translation tables,
    is a typo: opening it would make an empty queue (and add tables to someone's file)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

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


if __name__ == "__main__":
    app()
