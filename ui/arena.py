"""The Arena tab: join a study, chat with two anonymous models side by side, vote.

Votes are enabled exactly when the store would take one: once both sides have finished
a reply with text, and only one per battle (the buttons go, and the store refuses a
second); the identities are shown only after the vote; New round draws a fresh pair with
fresh sides, and an empty reason and languages. An exchange stopped before a side wrote
anything is taken back from both, and the message goes back into the box. A line under
the chats says when the two sides must take turns on one model.

Joins and votes go through attempt limits (arena/limits.py), per client address and
overall, so codes cannot be guessed through the API and ballots not stuffed by a script.
They count in the vote store, so every replica on one database sees one count; the client
is the socket peer, or what a trusted proxy says (arena/addresses.py).
"""

from __future__ import annotations

import html
from types import SimpleNamespace
from typing import Iterator

import gradio as gr

from arena import (VOTE_POLICY, WRONG_CODE_ERRORS, ArenaError, ArenaStore, AttemptLimiter, client_address,
                   ensure_study)
from engine.admission import Admission
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.pool import ModelPool
from engine.reply import ReplyOptions
from ui.arena_round import ArenaConfig, ArenaRound
from ui.common import EMPTY_INPUT, displayable, info, split_message, warn, warning, with_files
from ui.conversation import keep_for_a_fix
from ui.icons import icon
from ui.labels import Labels, Text
from ui.sessions import client_keys, session_key
from ui.strings import text
from ui.transcript import chat_messages

VOTES = (("vote_a", "model_a"), ("vote_b", "model_b"), ("vote_tie", "tie"), ("vote_bad", "both_bad"))
# Both sides get the same settings, so that the comparison is of the models alone.
# (each side's adapter is its contestant's, set by the round).
ARENA_OPTIONS = ReplyOptions(settings=GenerationSettings(temperature=0.7, top_p=0.9, max_new_tokens=512))


def rater_language_choices(lang: str) -> list[tuple[str, str]]:
    return [("العربية", "ar"), ("English", "en"), (text("rater_both", lang), "ar+en")]


class ArenaHandlers:
    def __init__(self, pool: ModelPool, store: ArenaStore, config: ArenaConfig, backend,
                 options: ReplyOptions = ARENA_OPTIONS, *, join_limiter: AttemptLimiter | None = None,
                 vote_limiter: AttemptLimiter | None = None, admission: Admission | None = None):
        self.pool, self.store, self.config, self.backend, self.options = pool, store, config, backend, options
        self.admission = admission or Admission()  # the chat's: one reply (pair) per tab, a bound in all
        # Shared by every session, and counted in the store, shared by every replica: a limit
        # per browser session (or per process) would reset with each one an attacker opens.
        self.join_limiter = join_limiter or AttemptLimiter("arena join", store=store)
        self.vote_limiter = vote_limiter or AttemptLimiter("arena vote", VOTE_POLICY, store=store)
        ensure_study(store, config.study, access_code=config.access_code)  # the organiser's study

    def join(self, name: str, code: str, personal_code: str, state: ArenaRound | None, ui_lang: str,
             request: gr.Request | None = None):
        """Returns join box, battle box, access code, personal code, the fresh round's view,
        state. Both code boxes are emptied either way: a typed secret must not stay in the
        page's fields."""
        state = state or ArenaRound(self.pool, self.store, self.config, self.backend)
        cleared = gr.update(value="")
        try:
            self._limited_join(state, name, code, personal_code, client_address(request))
        except UserFacingError as error:
            warn(error, ui_lang)
            return gr.update(), gr.update(), cleared, cleared, *self._fresh_round_view(None, ui_lang), state
        return (gr.update(visible=False), gr.update(visible=True), cleared, cleared,
                *self._fresh_round_view(state, ui_lang), state)

    def _limited_join(self, state: ArenaRound, name: str, code: str, personal_code: str, client: str) -> None:
        """Join within the limits: refused before any code is checked while the client (or,
        for the shared study code, everyone) is locked out; a wrong code counts towards the
        lockout. Others' failures never refuse a personal code: lock guessing, not people."""
        study = self.config.study
        self.join_limiter.admit(client, study, personal_code=bool((personal_code or "").strip()))
        try:
            state.join(name, code or None, personal_code or None)
        except ArenaError as error:
            typed = personal_code if (personal_code or "").strip() else code
            if error.code in WRONG_CODE_ERRORS and (typed or "").strip():  # an empty box guesses nothing
                self.join_limiter.record_failure(client, study)
            raise

    def new_round(self, state: ArenaRound | None, ui_lang: str):
        try:
            state.new_round() if state else None
        except UserFacingError as error:
            warn(error, ui_lang)
        return self._fresh_round_view(state, ui_lang)

    def _fresh_round_view(self, state, ui_lang) -> tuple:
        """chat A, chat B, input, votes x4, reveal, new-round button, take-turns line, reason,
        rater languages. The last vote's reason and languages go: they were about that pair."""
        return (gr.update(value=[], label=text("model_a", ui_lang)), gr.update(value=[], label=text("model_b", ui_lang)),
                gr.update(value=EMPTY_INPUT, interactive=True), *self._votes(False), "", gr.update(visible=False),
                gr.update(visible=bool(state and state.takes_turns)), gr.update(value=""), gr.update(value=None))

    @staticmethod
    def _votes(enabled: bool) -> list:
        return [gr.update(interactive=enabled) for _ in VOTES]

    def send(self, message, state: ArenaRound | None, ui_lang: str, request: gr.Request = None) -> Iterator[tuple]:
        """Yields chat A, chat B, input, votes x4, state."""
        if state is None or state.sides is None:
            warn(ArenaError("rater_not_found"), ui_lang)
            yield gr.update(), gr.update(), message, *self._votes(False), state
            return
        user_text, files = split_message(message)
        if state.take_stop_request():  # stopped while it waited in the queue
            yield *self.panels(state, ui_lang), message, *self._votes(state.can_vote), state
            return
        if files and not state.reads_images:  # refused before either side starts (issue 27)
            warning(text("arena_cannot_read_images", ui_lang), ui_lang)
            yield *self.panels(state, ui_lang), message, *self._votes(state.can_vote), state
            return
        try:
            ticket = self.admission.admit(session_key(request, state), client_keys(request))
            try:
                for step, _ in enumerate(state.send(user_text, files, self.options)):
                    if step == 0:
                        self._tell_notices(state, ui_lang)
                    yield *self.panels(state, ui_lang), EMPTY_INPUT, *self._votes(False), state
            finally:
                ticket.release()
        except UserFacingError as error:  # the text stays for a fix; a file intake refused leaves the box
            warn(error, ui_lang)
            unsent = displayable(with_files(message, keep_for_a_fix(files)))
            yield *self.panels(state, ui_lang), unsent, *self._votes(state.can_vote), state
            return
        left = EMPTY_INPUT
        if state.taken_back:  # its files were read and deleted: the text comes back to send again
            warning(text(state.taken_back, ui_lang), ui_lang)
            left = {"text": user_text, "files": []}
        yield *self.panels(state, ui_lang), left, *self._votes(state.can_vote), state

    @staticmethod
    def _tell_notices(state: ArenaRound, ui_lang: str) -> None:
        """What the person should know about the replies (a DICOM series of which the models
        see one frame), once each, as the chat tells them (Reply.notices)."""
        lines = [line for side in state.sides if side.pending is not None
                 for line in side.pending.reply.notices(ui_lang)]
        for line in dict.fromkeys(lines):
            info(line, ui_lang)

    @staticmethod
    def expect_reply(state: ArenaRound | None):
        """Runs at the click, before the request queues, as the chat's: an earlier Stop no
        longer counts, and Stop is enabled. Returns (state, Stop button)."""
        if state is not None:
            state.expect_reply()
        return state, gr.update(interactive=state is not None and state.sides is not None)

    @staticmethod
    def panels(state: ArenaRound | None, ui_lang: str) -> tuple[list, list]:
        """Both sides' chats with their notes in `ui_lang` (time, how a reply ended: "stopped"
        included), blind: nothing in them names a model (ui/transcript.py)."""
        sides = (state.sides if state is not None else None) or (None, None)
        return tuple(chat_messages(side, ui_lang, blind=True) for side in sides)

    @staticmethod
    def stop_button(state: ArenaRound | None):
        """After a send ended: Stop stays enabled only while a side's reply still runs."""
        sides = (state.sides or ()) if state is not None else ()
        return gr.update(interactive=any(side.pending is not None for side in sides))

    @staticmethod
    def rater_line(state: ArenaRound | None, ui_lang: str) -> str:
        """"You are rating as: NAME" in `ui_lang` once joined (the name isolated in <bdi>, so
        an Arabic name in an English line, or the reverse, keeps its own direction)."""
        if state is None or state.rater is None:
            return ""
        name = f"<bdi>{html.escape(state.rater.display_name)}</bdi>"
        return f'<p id="arena-rating-as-text">{text("arena_rating_as", ui_lang).format(name=name)}</p>'

    @staticmethod
    def stop(state: ArenaRound | None) -> None:
        for side in (state.sides or ()) if state else ():
            side.stop()

    def vote_handler(self, winner: str):
        """The handler of the vote button for `winner`. A function of its own rather than a
        functools.partial: Gradio finds the `gr.Request` parameter only in a function's
        own annotations, and without it every client would share one limit."""
        def vote(reason: str, rater_language: str | None, state: ArenaRound | None, ui_lang: str,
                 request: gr.Request | None = None):
            return self.vote(winner, reason, rater_language, state, ui_lang, request)
        return vote

    def vote(self, winner: str, reason: str, rater_language: str | None, state: ArenaRound | None, ui_lang: str,
             request: gr.Request | None = None):
        """Returns chat A label, chat B label, votes x4, input, reveal, new-round button."""
        unchanged = (gr.update(), gr.update(), *self._votes(bool(state and state.can_vote)), gr.update(),
                     gr.update(), gr.update())
        if state is not None and state.receipt is None and not state.can_vote:
            warning(text("vote_after_replies", ui_lang), ui_lang)  # the store would refuse it too
            return unchanged
        try:
            if state is None:
                raise ArenaError("rater_not_found")
            self.vote_limiter.admit(client_address(request), self.config.study)
            receipt = state.vote(winner, reason, rater_language)  # refuses a second vote
        except UserFacingError as error:
            warn(error, ui_lang)
            return unchanged
        a, b = (self._title(receipt.model_a), self._title(receipt.model_b))
        reveal = text("revealed", ui_lang).format(a=a, b=b)
        if receipt.flagged_leak:
            reveal += f"\n\n{icon('warning', ui_lang)} " + text("leak_flagged", ui_lang)
        info(text("vote_recorded", ui_lang), ui_lang)
        return (gr.update(label=f"{text('model_a', ui_lang)}: {a}"), gr.update(label=f"{text('model_b', ui_lang)}: {b}"),
                *self._votes(False), gr.update(interactive=False), reveal, gr.update(visible=True))

    def _title(self, contestant: str) -> str:
        """The name the Leaderboard, the exports and the ratings give it (never a card's
        title such as "Local: NAME", nor a server path)."""
        return self.pool.public_contestant(contestant)


def build_arena_tab(handlers: ArenaHandlers, ui_lang, concurrency: dict, labels: Labels) -> SimpleNamespace:
    """Inside a gr.Tabs: the Arena tab's components, wired; their texts go to `labels`.
    The side panels' labels are left out: once revealed, the identities stay as they are."""
    w = SimpleNamespace()
    with labels.make(gr.Tab, label=Text("arena_tab"), id="arena", elem_id="arena-tab"):
        labels.make(gr.Markdown, value=Text(_intro), elem_id="arena-intro")
        with gr.Group(elem_id="arena-join") as w.join_box:
            w.rater_name = labels.make(gr.Textbox, label=Text("rater_name"), max_length=64,
                                       elem_id="arena-rater-name")
            w.code = labels.make(gr.Textbox, label=Text("access_code"), type="password", elem_id="arena-code",
                                 visible=handlers.config.access_code is not None)
            # Always shown: the organiser can hand out codes while the app runs.
            w.personal_code = labels.make(gr.Textbox, label=Text("personal_code"), info=Text("personal_code_info"),
                                          type="password", max_length=64, elem_id="arena-personal-code")
            w.join = labels.make(gr.Button, value=Text("join"), variant="primary", elem_id="arena-join-button")
        with gr.Column(visible=False, elem_id="arena-battle") as w.battle_box:
            w.rating_as = gr.HTML("", elem_id="arena-rating-as")  # who is rating: ArenaHandlers.rater_line
            with gr.Row(equal_height=True):
                # Side by side on a phone too (min_width), with the message box on the first screen.
                chat = dict(height="max(220px, calc(100dvh - 460px))", min_width=120, render_markdown=False,
                            sanitize_html=True, latex_delimiters=[], buttons=[])
                w.chat_a = gr.Chatbot(label=text("model_a", "en"), elem_id="arena-a", **chat)
                w.chat_b = gr.Chatbot(label=text("model_b", "en"), elem_id="arena-b", **chat)
            w.turns = labels.make(gr.Markdown, value=Text(lambda lang: f"{icon('hourglass', lang)} " + text("arena_take_turns", lang)),
                                  visible=False, elem_id="arena-turns")
            with gr.Row(equal_height=True):
                w.message = labels.make(gr.MultimodalTextbox, label=Text("input"), show_label=False, file_count="multiple",
                                        submit_btn=False, placeholder=Text("arena_placeholder"),
                                        elem_id="arena-input", scale=8)
                w.send = labels.make(gr.Button, value=Text("send"), variant="primary", elem_id="arena-send",
                                     scale=1, min_width=90)
                # Enabled only while replies run (ArenaHandlers.expect_reply / stop_button).
                w.stop = labels.make(gr.Button, value=Text("stop"), variant="stop", elem_id="arena-stop",
                                     scale=1, min_width=90, interactive=False)
            with gr.Row():
                w.votes = [labels.make(gr.Button, value=Text(key), interactive=False,
                                       elem_id=f"arena-{key.replace('_', '-')}") for key, _ in VOTES]
            with gr.Row():
                w.reason = labels.make(gr.Textbox, label=Text("vote_reason"), max_length=2000,
                                       elem_id="arena-reason", scale=3)
                w.rater_language = labels.make(gr.Radio, choices=Text(rater_language_choices),
                                               label=Text("rater_language"), elem_id="arena-rater-language",
                                               scale=2)
            w.reveal = gr.Markdown(elem_id="arena-reveal")
            w.new_round = labels.make(gr.Button, value=Text("new_round"), visible=False,
                                      elem_id="arena-new-round")
        # Inside the tab: a gr.State created after it closed would sit between the tabs,
        # which puts Gradio's tab count off by one (a second "Leaderboard" tab appeared).
        _wire(w, handlers, ui_lang, concurrency)
    return w


def _intro(lang: str) -> str:
    return f"{text('arena_intro', lang)}\n\n{icon('storage', lang)} {text('arena_storage', lang)}"


def _wire(w: SimpleNamespace, handlers: ArenaHandlers, ui_lang, concurrency: dict) -> None:
    state = gr.State(None, delete_callback=lambda round_: round_ and round_.discard())
    fresh = [w.chat_a, w.chat_b, w.message, *w.votes, w.reveal, w.new_round, w.turns, w.reason, w.rater_language]
    w.join.click(handlers.join, [w.rater_name, w.code, w.personal_code, state, ui_lang],
                 [w.join_box, w.battle_box, w.code, w.personal_code, *fresh, state], api_name="arena_join").then(
        handlers.rater_line, [state, ui_lang], [w.rating_as], queue=False, api_name=False)
    ui_lang.change(handlers.rater_line, [state, ui_lang], [w.rating_as], queue=False, api_name=False)
    ui_lang.change(handlers.panels, [state, ui_lang], [w.chat_a, w.chat_b], queue=False, api_name=False)
    streaming = [w.chat_a, w.chat_b, w.message, *w.votes, state]
    # Stop works through the sides' Conversations, as in the chat (ui/handlers.py).
    for trigger, api_name in ((w.send.click, "arena_send"), (w.message.submit, False)):
        trigger(handlers.expect_reply, [state], [state, w.stop], queue=False, api_name=False).then(
            handlers.send, [w.message, state, ui_lang], streaming, api_name=api_name, **concurrency).then(
            handlers.stop_button, [state], [w.stop], queue=False, api_name=False)
    w.stop.click(handlers.stop, [state], None, api_name="arena_stop")
    voted = [w.chat_a, w.chat_b, *w.votes, w.message, w.reveal, w.new_round]
    for button, (_, winner) in zip(w.votes, VOTES):
        button.click(handlers.vote_handler(winner), [w.reason, w.rater_language, state, ui_lang], voted,
                     api_name=f"arena_vote_{winner}")
    w.new_round.click(handlers.new_round, [state, ui_lang], fresh, api_name="arena_new_round")
