"""What the chat screen's buttons do. Each handler gets the browser session's Conversation
(gr.State) and returns what the screen shows; the engine does the work.

Replies stream: the Chatbot is re-rendered from the Conversation on every chunk. Stop asks
the Conversation to stop: the reply ends at the next token and the event completes as any
reply does, showing what was written. Gradio's `cancels` is not used for that: a cancel
that lands as the stopped event completes leaves the Chatbot empty with "Error" on it
(Gradio 6.31, seen in the browser tests). A message Stop catches still waiting in the
queue is not started (`Conversation.stop_requested`). A closed tab still closes the
handler's generator, whose `finally` closes the Reply.

Send and Regenerate take one path (`_reply`): they differ only in how the reply starts.

Handlers run in the app's own process and keep the Conversation there. Only token
generation goes to the GPU (ui/spaces_gpu.py): on ZeroGPU it runs in a forked worker that
gets a plain request and sends back token ids, so no session state has to cross over.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Callable, Iterator

import gradio as gr

from engine.admission import Admission
from engine.backend import queue_position
from engine.errors import UserFacingError, notice
from engine.generation import GenerationSettings
from engine.language import detect_language
from engine.pool import ModelPool
from engine.reply import Reply, ReplyOptions, reads_images
from ui.common import (EMPTY_INPUT, adapter_choices, chosen_adapter, displayable, model_card, split_message,
                       info, warn, warning, with_files)
from ui.browser_memory import FORGOTTEN, kept_value, restored
from ui.conversation import (Conversation, PendingExchange, delete_originals, delete_previews, delete_unsent,
                             keep_for_a_fix)
from ui.downloads import Downloads, links_html
from ui.image_support import image_controls
from ui.export import export_files
from ui.sessions import browser_of, client_keys, session_key
from ui.reply_threads import ReplyReaders
from ui.spaces_gpu import token_backend
from ui.strings import text
from ui.transcript import chat_messages


def chat_options(reply_language: str, temperature: float, top_p: float, max_new_tokens: float,
                 repetition_penalty: float, seed: float | None, adapter: str | None = None) -> ReplyOptions:
    """The settings panel's values as engine options (the sliders bound every value)."""
    settings = GenerationSettings(
        temperature=float(temperature), top_p=float(top_p), max_new_tokens=int(max_new_tokens),
        # A negative (or missing) seed means a fresh random one for each reply.
        repetition_penalty=float(repetition_penalty), seed=None if seed is None or seed < 0 else int(seed),
    )
    return ReplyOptions(reply_language or "auto", settings, adapter)


WAIT_POLL_S = 0.5  # how often a reply that waits for its model updates its place in the queue


def _read_with_waits(reply: Reply) -> Iterator[int | None]:
    """Read `reply` in a thread of its own; yields None after each chunk, and while the
    reply waits for its model, its place in that model's queue every WAIT_POLL_S."""
    readers = ReplyReaders([reply])
    try:
        for kind, payload in readers.events(WAIT_POLL_S):
            if kind == "idle" and not reply.text:
                yield queue_position(readers.threads[0].ident)
            elif kind == "error":
                raise payload
            elif kind == "chunk":
                yield None
    finally:
        readers.close()


class ChatHandlers:
    def __init__(self, pool: ModelPool, downloads: Downloads | None = None, admission: Admission | None = None):
        self.pool = pool
        self.backend = token_backend()
        self.downloads = downloads or Downloads()
        self.admission = admission or Admission()
        # langdetect reads its profiles on first use (~2 s): done now, not in the first
        # person's Send, which would wait that long for their message to show (issue 27).
        detect_language("warm up the language detector")

    def conversation(self, conversation: Conversation | None) -> Conversation:
        """This browser session's conversation, started on the app's default model (and
        moved to the in-process model that took over if its vLLM could not start)."""
        if conversation is None:
            return Conversation(self.pool.get(self.pool.default), self.backend)
        current = self.pool.current(conversation.loaded)
        if current is not conversation.loaded and conversation.pending is None:
            conversation.switch_model(current)
        return conversation

    # The parameters are named one by one: Gradio names the API's arguments after them.
    def respond(self, message, conversation: Conversation | None, reply_language, temperature, top_p,
                max_new_tokens, repetition_penalty, seed, adapter, ui_lang,
                request: gr.Request = None) -> Iterator[tuple]:
        """Send: yields (chat, input box, state)."""
        user_text, files = split_message(message)
        settings = (reply_language, temperature, top_p, max_new_tokens, repetition_penalty, seed, adapter)
        # Shown before intake reads the files (a large DICOM takes seconds), with the time it keeps.
        sending = PendingExchange((user_text or "").strip(), tuple(files), None)

        def start(conversation: Conversation, options: ReplyOptions) -> Reply:
            reply = conversation.send(user_text, files, options, sent_at=sending.sent_at)
            delete_originals(files)  # read: the conversation shows their previews
            return reply

        def unsent():  # the message goes back to its box, its uploads as previews
            return displayable(with_files(message, keep_for_a_fix(files)))

        # Not sent: the input stays for a fix; sent: the box empties.
        yield from self._reply(conversation, start, settings, ui_lang, (unsent, EMPTY_INPUT),
                               session_key(request, conversation), client_keys(request), sending)

    def respond_text_only(self, message, conversation: Conversation | None, reply_language, temperature, top_p,
                          max_new_tokens, repetition_penalty, seed, adapter, ui_lang,
                          request: gr.Request = None) -> Iterator[tuple]:
        """"Send without the image": the box's text alone, as Send sends it; its files
        leave the server (a preview or an upload: nothing of them is sent or kept)."""
        user_text, files = split_message(message)
        delete_unsent(files)
        yield from self.respond({"text": user_text, "files": []}, conversation, reply_language, temperature, top_p,
                                max_new_tokens, repetition_penalty, seed, adapter, ui_lang, request)

    def image_controls(self, message, conversation: Conversation | None) -> tuple:
        """After a send or a model switch: the examples the model can take, and "Send
        without the image" while the box holds an image this model cannot see."""
        return image_controls(reads_images(self.conversation(conversation).loaded), message)

    def regenerate(self, conversation: Conversation | None, reply_language, temperature, top_p,
                   max_new_tokens, repetition_penalty, seed, adapter, ui_lang,
                   request: gr.Request = None) -> Iterator[tuple]:
        """Regenerate: yields (chat, state); the input box is not Regenerate's."""
        settings = (reply_language, temperature, top_p, max_new_tokens, repetition_penalty, seed, adapter)
        for view, _, state in self._reply(conversation, lambda c, options: c.regenerate(options),
                                          settings, ui_lang, (None, None), session_key(request, conversation),
                                          client_keys(request)):
            yield view, state

    def _reply(self, conversation: Conversation | None, start: Callable[[Conversation, ReplyOptions], Reply],
               settings: tuple, ui_lang: str, input_box: tuple, session: Hashable,
               clients: tuple[Hashable, ...] = (), sending: PendingExchange | None = None) -> Iterator[tuple]:
        """The one path of Send and Regenerate: yields (chat, input box, state).
        `settings`: the panel's values; `input_box`: what the box shows if the reply
        cannot start (or a function making it), and once it has; `session`: whose replies
        admission counts; `sending`: the message, shown (and the box emptied) once admitted,
        before `start` reads its files. A Stop in that window is a Stop before the reply
        starts (Conversation.stop_requested), which `start` honours."""
        conversation = self.conversation(conversation)
        *panel, adapter = settings
        sent = input_box[1]

        def unsent():  # read only when the message was not sent
            return input_box[0]() if callable(input_box[0]) else input_box[0]
        if conversation.take_stop_request():  # stopped while it waited in the queue
            yield chat_messages(conversation, ui_lang), unsent(), conversation
            return
        try:  # one reply in flight per browser session, a bounded number in all
            ticket = self.admission.admit(session, clients)
        except UserFacingError as error:
            warn(error, ui_lang)
            yield gr.update(), unsent(), conversation
            return
        try:
            if sending is not None:
                yield chat_messages(conversation, conversation.ui_lang or ui_lang, sending=sending), sent, conversation
                sent = gr.update()
            try:
                # The settings are checked here: a bad one (a seed of 2**80) is told, naming it.
                reply = start(conversation, chat_options(*panel, chosen_adapter(conversation.loaded, adapter)))
            except UserFacingError as error:  # back to the finished turns; the message to its box
                ticket.release()
                warn(error, ui_lang)
                yield chat_messages(conversation, conversation.ui_lang or ui_lang), unsent(), conversation
                return
            for view in self._stream(conversation, reply, ui_lang):
                yield view, sent, conversation
                sent = gr.update()
        finally:
            ticket.release()  # also when the tab closes before the reply was read

    @staticmethod
    def _stream(conversation: Conversation, reply: Reply, ui_lang: str) -> Iterator[list[dict]]:
        """The message at once (with its time, and "Writing…" for the reply), then the reply
        as it grows. Each view in the interface language chosen last: a switch while the
        reply is written re-renders its notes too (Conversation.ui_lang)."""
        for line in reply.notices(ui_lang):  # in the interface language, like every other message
            info(line, ui_lang)

        def view() -> list[dict]:
            return chat_messages(conversation, conversation.ui_lang or ui_lang)
        try:
            yield view()
            for waiting in _read_with_waits(reply):
                if conversation.pending is not None:
                    conversation.pending.waiting = waiting
                yield view()
        except UserFacingError as error:  # the model failed mid-reply; what was shown is kept
            warn(error, conversation.ui_lang or ui_lang)
        finally:
            reply.close()  # Stop or a closed tab: generation ends now
            conversation.finish(reply)
        yield view()

    def expect_reply(self, conversation: Conversation | None) -> tuple:
        """Runs at the click, before the request queues: an earlier Stop no longer counts,
        and Stop is enabled. Returns (state, Stop button)."""
        conversation = self.conversation(conversation)
        conversation.expect_reply()
        return conversation, gr.update(interactive=True)

    @staticmethod
    def stop_button(conversation: Conversation | None):
        """After a request ended: Stop stays enabled only if a reply still runs (a second
        message refused while the first is written must not disable its Stop)."""
        return gr.update(interactive=conversation is not None and conversation.pending is not None)

    @staticmethod
    def stop(conversation: Conversation | None) -> None:
        if conversation is not None:
            conversation.stop()  # the reply ends at the next token and its event completes

    def clear(self, conversation: Conversation | None):
        if conversation is not None:
            delete_previews(conversation)
            conversation.clear()
            self._forget_exports(conversation)
        return [], EMPTY_INPUT, gr.update(value="", visible=False), conversation

    def export(self, conversation: Conversation | None, ui_lang: str, request: gr.Request = None):
        """One-time download links (ui/downloads.py), for this browser only."""
        if conversation is None or not conversation.messages:
            warning(text("nothing_to_export", ui_lang), ui_lang)
            return gr.update(value="", visible=False)
        self._forget_exports(conversation)  # an earlier export not fetched: only the newest stays
        owner = browser_of(request)
        conversation.export_urls = [self.downloads.offer(owner, name, data)
                                    for name, data in export_files(conversation, ui_lang)]
        info(text("exported", ui_lang), ui_lang)
        return gr.update(value=links_html(conversation.export_urls, text("download_once", ui_lang)), visible=True)

    @staticmethod
    def remember(keep: bool, conversation: Conversation | None, request: gr.Request = None):
        """What the browser keeps of this conversation: nothing unless the person asked;
        then sealed for this browser (ui/browser_memory.py)."""
        return kept_value(bool(keep), conversation, browser_of(request))

    @staticmethod
    def choose_keep(keep: bool, conversation: Conversation | None, ui_lang: str, request: gr.Request = None):
        """The keep box ticked or unticked: as `remember`, and a browser that has not kept
        the app's cookie is told that nothing can be kept in it (the key needs the cookie)."""
        if keep and browser_of(request) is None:
            warning(text("keep_needs_cookie", ui_lang), ui_lang)
        return kept_value(bool(keep), conversation, browser_of(request))

    def restore(self, kept, conversation: Conversation | None, ui_lang: str, request: gr.Request = None):
        """At page load: the conversation kept in this browser, if the person chose to keep
        one, within the limits of typed messages. Returns (chat, state, keep box, kept)."""
        unchanged = gr.update(), conversation, gr.update(), gr.update()
        if not kept:
            return unchanged
        conversation = self.conversation(conversation)
        outcome = restored(kept, conversation, browser_of(request))
        if outcome is None:
            return unchanged
        if not outcome.readable:  # another browser's, or kept before a restart: never readable here
            warning(text("kept_unreadable", ui_lang), ui_lang)
            return gr.update(), conversation, False, dict(FORGOTTEN)
        if outcome.left_out:
            warning(text("kept_cut", ui_lang).format(count=outcome.left_out), ui_lang)
        # Its notes came back with it (time, what wrote each reply), in the language chosen last.
        return chat_messages(conversation, conversation.ui_lang or ui_lang), conversation, True, gr.update()

    @staticmethod
    def forget(ui_lang: str):
        """Delete what this browser keeps, and stop keeping. Returns (kept, keep box)."""
        info(text("forgotten", ui_lang), ui_lang)
        return dict(FORGOTTEN), False

    def discard(self, conversation: Conversation | None) -> None:
        """The browser session ended (gr.State's delete callback)."""
        if conversation is not None:
            conversation.discard()
            delete_previews(conversation)
            self._forget_exports(conversation)

    def _forget_exports(self, conversation: Conversation) -> None:
        self.downloads.forget(conversation.export_urls)
        conversation.export_urls = []

    def switch_model(self, name: str, conversation: Conversation | None, ui_lang: str) -> tuple:
        """Load the chosen model (once per app) and go on with it; the chat is kept.

        Returns (model selector, model card, adapter selector, state). If the model cannot
        be used, the person is told why in the interface language and the selector goes
        back to the model in use. The adapter selector shows the new model's default.
        """
        conversation = self.conversation(conversation)
        name = self.pool.by_public_name(name)
        current = self.pool.name_of(conversation.loaded)
        if name == current:
            return self.pool.public_name(name), gr.update(), gr.update(), conversation
        if not self.pool.is_loaded(name):
            info(notice("model_loading", ui_lang, model=self.pool.title(name)), ui_lang)
        try:
            loaded = self.pool.get(name)
            conversation.switch_model(loaded)
        except UserFacingError as error:
            warn(error, ui_lang, notice("model_kept", ui_lang))
            return self.pool.public_name(current), gr.update(), gr.update(), conversation
        info(notice("model_switched", ui_lang, model=loaded.card.title), ui_lang)
        adapters = adapter_choices(loaded, self.pool.default_adapter(name), ui_lang)
        return self.pool.public_name(name), model_card(loaded, ui_lang), gr.update(**adapters), conversation
