"""`python -m train.review`: the screen where bilingual medical reviewers check translations.

    python -m train.review codes add "Dr Amal" --db out/translation.db   # once per reviewer: prints their code
    python -m train.review --db out/translation.db [--port 7870]           # the screen

Reviewers sign in with the personal code the organiser gave them (train/review_codes.py,
train/translate/reviewers.py), never with a typed name: the reviewer stored with each claim
and decision is the code's, held in the tab's server-side state, and the store checks the
code in the same transaction as each claim and decision, so a revoked code is refused at
the next action of a page already open. Wrong codes go through an attempt limit
(arena/limits.py). With `--auth` the login only guards the network (a team may share one,
and it cannot be revoked while the screen runs): the code still says who reviews.

The queue is the translation pipeline's (train/translate/store.py): samples still under the
score threshold after every round, then the random sample of high scorers. Each reviewer
gets a sample no other reviewer holds (the store's 30-minute claim), sees why it is here
and every round's score, and the English source beside the Arabic, which they may edit.
Two tabs signed in with one code are one reviewer: they are shown the sample that reviewer
holds, and its decision is stored once (the other tab is told it was already reviewed).
Approve stores the edited Arabic once it passes the same checks as the pipeline's
translations (numbers, units, drug names, <image> placeholders, every segment); Reject
stores a rejection. Either way the decision is one transaction, and the next sample loads.

Start / Next with a sample on the screen skips it for the next one: the skipped one goes
back to the queue at once (another reviewer may take it), and comes back to this reviewer
when nothing else waits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Optional

import gradio as gr
import typer

from arena.limits import UNKNOWN_CLIENT, AttemptLimiter, client_address
from arena.rater_codes import normalise_rater_code
from engine.errors import UserFacingError
from train.review_codes import codes_app, launch_notes, open_review_store
from train.review_view import (CSS, STRINGS, bilingual_html, box_lines, edited_arabic, english_html, label, notice,
                               progress_html, sample_html, sample_view, untranslated)
from train.translate.checks import load_keep_terms, translation_problems
from train.translate.errors import TranslationError
from train.translate.reviewers import Reviewer, sign_in
from train.translate.store import TranslationStore

KEEP = object()  # an Outcome's view or reviewer: leave it as it is (the sample and the edits stay)
# Refusals after which the sample on the screen cannot be decided any more: go on to the next.
MOVE_ON = frozenset({"already_reviewed", "claimed_by_other", "sample_not_found"})
SIGN_IN_SCOPE = "translation review"  # what the attempt limiter's log names
CODE_BOX_LIMIT = 64


@dataclass(frozen=True)
class Outcome:
    """What a button leaves on the screen."""

    view: object  # the sample's view (train/review_view.py), None (no sample), or KEEP
    progress: str | None  # the progress HTML; None: unchanged
    message: str  # HTML; "" clears the last message
    problem: str | None = None  # an error's text, also shown as a toast (the page may be scrolled down)
    reviewer: object = KEEP  # who the tab is signed in as from now on (a Reviewer), None: signed out


def _both(error: UserFacingError) -> tuple[str, str]:
    return error.message("en"), error.message("ar")


class ReviewHandlers:
    """The screen's actions, as plain functions of (who signed in, what is shown, what was typed).
    `signed` is the tab's Reviewer from its server-side state, never a value from the page."""

    def __init__(self, store: TranslationStore, keep_terms: frozenset[str] = frozenset(),
                 limiter: AttemptLimiter | None = None):
        self.store, self.keep_terms = store, keep_terms
        # One for every tab of this process: a limit per tab would reset with each new tab.
        self.limiter = limiter or AttemptLimiter("review sign-in")

    def start(self, code: str | None, signed: Reviewer | None, shown: dict | None,
              client: str = UNKNOWN_CLIENT) -> Outcome:
        """Sign in with the typed code (an empty box: stay signed in), then claim the next
        sample, skipping the one on the screen."""
        try:
            reviewer = self._signed_in(code, signed, client)
        except UserFacingError as error:
            return self._error(error)
        try:
            skip = [shown["sample_id"]] if shown and shown["reviewer"] == reviewer.name else []
            if shown and not skip:  # signed in as someone else now: the other's sample goes back
                self.store.release(shown["sample_id"], shown["reviewer"])
            outcome = self._load_next(reviewer, skip)
        except TranslationError as error:
            outcome = self._error(error)
        return replace(outcome, reviewer=reviewer) if outcome.reviewer is KEEP else outcome

    def approve(self, signed: Reviewer | None, shown: dict | None, comment: str | None, texts) -> Outcome:
        """Store the (edited) Arabic, if it keeps what a translation must keep."""
        if not shown:
            return Outcome(KEEP, None, bilingual_html(notice("no_sample"), "error"), notice("no_sample")[0])
        arabic = edited_arabic(shown, texts)
        problems = translation_problems(shown["english"], arabic, self.keep_terms)
        problems += untranslated(shown, arabic, self.keep_terms)
        try:
            reviewer = _reviewer(signed)
            if problems:
                # Isolated (FSI…PDI): the English list keeps its order inside the Arabic sentence.
                raise TranslationError("edit_refused", problems="\u2068" + "; ".join(problems) + "\u2069")
            review = self.store.record_review(shown["sample_id"], reviewer.name, "approved", shown["before"],
                                              arabic, _text(comment), code_digest=reviewer.digest)
        except TranslationError as error:
            return self._refused(signed, shown, error)
        done = notice("saved_approved", sample=shown["sample_id"], edited=len(review.edited_keys))
        return self._after_decision(reviewer, done)

    def reject(self, signed: Reviewer | None, shown: dict | None, comment: str | None) -> Outcome:
        """Store a rejection (no checks: the reviewer says the translation is not usable)."""
        if not shown:
            return Outcome(KEEP, None, bilingual_html(notice("no_sample"), "error"), notice("no_sample")[0])
        try:
            reviewer = _reviewer(signed)
            self.store.record_review(shown["sample_id"], reviewer.name, "rejected", shown["before"], None,
                                     _text(comment), code_digest=reviewer.digest)
        except TranslationError as error:
            return self._refused(signed, shown, error)
        return self._after_decision(reviewer, notice("saved_rejected", sample=shown["sample_id"]))

    # --- helpers ---------------------------------------------------------------------------

    def _signed_in(self, code: str | None, signed: Reviewer | None, client: str) -> Reviewer:
        """The reviewer a typed code names, within the attempt limits (ArenaError
        "too_many_attempts" when refused); an empty box keeps the tab's reviewer."""
        typed = code if isinstance(code, str) else None
        if not normalise_rater_code(typed):
            return _reviewer(signed)
        self.limiter.admit(client, SIGN_IN_SCOPE, personal_code=True)  # others' guesses never lock a reviewer out
        try:
            return sign_in(self.store, typed)
        except TranslationError as error:
            if error.code == "reviewer_code_invalid":
                self.limiter.record_failure(client, SIGN_IN_SCOPE)
            raise

    def _after_decision(self, reviewer: Reviewer, done: tuple[str, str]) -> Outcome:
        """The decision is stored: the next sample, or why none is shown (the store being
        busy now does not undo the decision, so the message says both)."""
        saved = bilingual_html(done, "done")
        try:
            return self._load_next(reviewer, said=saved)
        except TranslationError as error:
            return replace(self._error(error), view=None, message=saved + bilingual_html(_both(error), "error"))

    def _refused(self, signed: Reviewer | None, shown: dict, error: TranslationError) -> Outcome:
        """Nothing was stored. The sample stays with its edits, unless it cannot be decided
        any more (reviewed or taken by someone else): then the next one comes."""
        if error.code not in MOVE_ON:
            return self._error(error)
        said = bilingual_html(_both(error), "error")
        try:
            outcome = self._load_next(_reviewer(signed), [shown["sample_id"]], said)
        except TranslationError as later:
            return replace(self._error(later), message=said + bilingual_html(_both(later), "error"))
        return replace(outcome, problem=error.message("en"))

    def _load_next(self, reviewer: Reviewer, skip: list[str] | tuple = (), said: str = "") -> Outcome:
        sample = self.store.claim_next(reviewer.name, skip, code_digest=reviewer.digest)
        if sample is None and skip:  # only the skipped one is left: back to it
            sample = self.store.claim_next(reviewer.name, code_digest=reviewer.digest)
            said = said or bilingual_html(notice("only_this_one"))
        if sample is None:
            return Outcome(None, self._progress(), said + bilingual_html(notice("queue_empty"), "done"))
        for skipped in skip:  # given back: another reviewer may take it at once
            if skipped != sample.id:
                self.store.release(skipped, reviewer.name)
        view = sample_view(sample, self.store.rounds(sample.id), reviewer.name)
        return Outcome(view, self._progress(), said)

    def _progress(self) -> str:
        return progress_html(self.store.review_queue_size(), self.store.reviewer_progress())

    @staticmethod
    def _error(error: UserFacingError) -> Outcome:
        said = bilingual_html(_both(error), "error")
        if error.code == "reviewer_code_revoked":  # signed out: the sample leaves the screen
            return Outcome(None, None, said, error.message("en"), reviewer=None)
        return Outcome(KEEP, None, said, error.message("en"))


def _reviewer(signed) -> Reviewer:
    """The tab's reviewer, or TranslationError("reviewer_code_required") before a sign-in."""
    if not isinstance(signed, Reviewer):
        raise TranslationError("reviewer_code_required")
    return signed


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _outputs(outcome: Outcome) -> tuple:
    """An Outcome as the values of (signed-in reviewer, shown sample, progress, message)."""
    if outcome.problem:
        gr.Warning(outcome.problem)
    return (gr.skip() if outcome.reviewer is KEEP else outcome.reviewer,
            gr.skip() if outcome.view is KEEP else outcome.view,
            gr.skip() if outcome.progress is None else outcome.progress, outcome.message)


# --- the screen ----------------------------------------------------------------------------

def build_review_app(store: TranslationStore, keep_terms: frozenset[str] = frozenset(),
                     handlers: ReviewHandlers | None = None) -> gr.Blocks:
    """The review screen. Nothing from the database is shown before a valid code is given.
    Who the tab signed in as lives in a gr.State: on the server, never taken from the page
    (Gradio ignores a State value a client sends)."""
    handlers = handlers or ReviewHandlers(store, keep_terms)
    with gr.Blocks(title=label("title")) as demo:
        gr.HTML(f"<h2>{label('title')}</h2>")
        with gr.Row(equal_height=True):
            code = gr.Textbox(label=label("code"), type="password", max_length=CODE_BOX_LIMIT, elem_id="rv-code",
                              scale=3)
            start = gr.Button(label("start"), variant="primary", elem_id="rv-start", scale=1)
        progress = gr.HTML(elem_id="rv-progress")
        message = gr.HTML(bilingual_html(notice("intro")), elem_id="rv-message")
        signed = gr.State(None)  # the Reviewer this tab signed in as
        shown = gr.State(None)
        outputs = [signed, shown, progress, message]

        def on_start(typed: str, reviewer: Reviewer | None, view: dict | None, request: gr.Request):
            # The box is emptied either way: a typed code must not stay in the page.
            return "", *_outputs(handlers.start(typed, reviewer, view, client_address(request)))

        start.click(on_start, [code, signed, shown], [code, *outputs])
        code.submit(on_start, [code, signed, shown], [code, *outputs])

        @gr.render(inputs=[shown])
        def sample_screen(view: dict | None):
            if view:
                _sample_layout(view, handlers, signed, outputs)
    return demo


def _sample_layout(view: dict, handlers: ReviewHandlers, signed: gr.State, outputs: list) -> None:
    """One sample: its heading, a row per segment (English left, editable Arabic right),
    the comment, and the decisions. The decisions hold the view they were drawn with, so
    a click that arrives after the screen moved on names the sample the person saw; who
    decides comes from the tab's `signed` state."""
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

    def on_approve(reviewer: Reviewer | None, comment_text: str, *texts: str):
        return _outputs(handlers.approve(reviewer, view, comment_text, texts))

    def on_reject(reviewer: Reviewer | None, comment_text: str):
        return _outputs(handlers.reject(reviewer, view, comment_text))

    approve.click(on_approve, [signed, comment, *boxes], outputs)
    reject.click(on_reject, [signed, comment], outputs)


# --- the command ---------------------------------------------------------------------------

app = typer.Typer(add_completion=False)
app.add_typer(codes_app, name="codes")


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    db: Annotated[Optional[str], typer.Option(help="the translation database: a SQLAlchemy URL or a SQLite file")] = None,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to serve on")] = 7870,
    keep_terms: Annotated[Optional[Path], typer.Option(help="the pipeline's --keep-terms file (names kept in Latin)")] = None,
    auth: Annotated[Optional[list[str]], typer.Option(metavar="USER:PASSWORD", help="require this login (repeatable); needed beyond loopback; reviewers still sign in with their codes")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="serve beyond loopback without a login, on purpose")] = False,
    reviewer: Annotated[Optional[str], typer.Option(hidden=True, help="no longer used: reviewers sign in with codes")] = None,
) -> None:
    """Serve the translation review screen; `codes` manages the reviewers' personal codes."""
    if ctx.invoked_subcommand is not None:
        return
    from arena.addresses import use_trusted_proxies
    from ui.assets import asset_file, font_face_css, theme
    from ui.security import app_kwargs

    try:
        use_trusted_proxies([])  # X-Forwarded-For only from BIMEDIX_TRUSTED_PROXIES (or a Space's proxy)
        logins = _logins(host, auth or [], no_auth)
        store = open_review_store(db or "")
        terms = load_keep_terms(keep_terms)
        notes = launch_notes(store, db, reviewer)
    except (ValueError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except TranslationError as error:
        typer.echo(f"error: {error.message('en')}\n{error.message('ar')}", err=True)
        raise typer.Exit(2) from None
    for note in notes:
        typer.echo(note, err=True)
    demo = build_review_app(store, terms)
    demo.queue(default_concurrency_limit=8)
    # run_history=False: no decision or code is kept in the browser's storage after the tab closes.
    demo.launch(server_name=host, server_port=port, auth=logins or None, css=font_face_css() + CSS, theme=theme(),
                run_history=False, footer_links=[], ssr_mode=False, app_kwargs=app_kwargs(assets=asset_file))


def _logins(host: str, auth: list[str], no_auth: bool) -> list[tuple[str, str]]:
    """The logins to require; the samples are medical, so the network needs one (as app.py).
    A login guards the network only: who reviews is the personal code."""
    from engine.network import is_loopback

    pairs = [tuple(value.split(":", 1)) for value in auth]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise ValueError("--auth takes USER:PASSWORD")
    if not (pairs or no_auth or is_loopback(host)):
        raise ValueError(f"--host {host} serves the review screen to the network with no login. "
                         "Give --auth USER:PASSWORD (repeatable), or --no-auth if it is meant to be open.")
    return pairs


if __name__ == "__main__":
    app()
