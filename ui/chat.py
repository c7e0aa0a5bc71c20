"""The chat screen: a streaming, bilingual multi-turn chat on the app's models.

Each browser tab gets its own Conversation (gr.State), so one user's conversation never
shows in another's window. The model selector offers the app's models (engine/pool.py):
each loads when first chosen and is then shared; each runs at most `--max-concurrency`
replies at once (engine/backend.py), the other admitted replies wait for it. Admission
(engine/admission.py) bounds how many replies the app holds, one per browser session.

Layout direction: the interface language selector relabels every component from
ui/strings.py (through one registry, ui/labels.py, that every tab fills while it is
built) and sets `dir`/`lang` on the app container, so the whole layout mirrors for
Arabic. Message direction is separate: each message carries its own (ui/bidi.py).
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import gradio as gr

from engine.admission import Admission
from engine.errors import UserFacingError
from engine.loading import LoadedModel
from engine.pool import ModelPool
from engine.prompt_input import reads_images
from ui.arena_round import ArenaConfig, contestants
from ui.assets import example_messages, register_static_paths
from ui.browser_memory import PAGE_LAYER_SECRET, STORAGE_KEY
from ui.common import adapter_choices, model_card, vllm_starting
from ui.downloads import Downloads
from ui.handlers import ChatHandlers
from ui.image_support import model_choices
from ui.icons import icon
from ui.labels import Labels, Text
from ui.strings import UI_LANGUAGE_CHOICES, UI_LANGUAGE_LABEL, UI_LANGUAGES, reply_language_choices, text
from ui.transcript import chat_messages

# Uploaded images and exports sit in Gradio's cache: checked every 30 minutes, deleted after an hour.
DELETE_CACHE = (1800, 3600)

# The chat fills the first screen with the message box still in it (phones: assets/chat.css).
CHAT_HEIGHT = "max(240px, calc(100dvh - 330px))"
# How often a card whose vLLM is starting counts down (ui/common.model_card).
CARD_REFRESH_S = 3.0

# Runs in the browser after a language switch: the container's direction mirrors the layout.
APPLY_DIRECTION_JS = """
(lang) => {
    const root = document.querySelector('.gradio-container') || document.documentElement;
    const rtl = lang === 'ar';
    root.setAttribute('dir', rtl ? 'rtl' : 'ltr');
    root.setAttribute('lang', rtl ? 'ar' : 'en');
    root.classList.toggle('bmx-rtl', rtl);
    // The page itself too (screen readers, the browser's own controls), and Gradio's own
    // texts (tooltips, screen-reader labels) in the same language (assets/chat.js).
    document.documentElement.setAttribute('dir', rtl ? 'rtl' : 'ltr');
    document.documentElement.setAttribute('lang', rtl ? 'ar' : 'en');
    if (window.bmxInterfaceLanguage) window.bmxInterfaceLanguage(rtl ? 'ar' : 'en');
    return [];
}
"""


def preferred_language(request: gr.Request) -> str:
    """Arabic when the browser asks for Arabic first, else English."""
    accept = (request.headers.get("accept-language", "") if request else "").strip().lower()
    return "ar" if accept.startswith("ar") else "en"


def build_chat_app(pool: ModelPool, problem: UserFacingError | None = None, arena: ArenaConfig | None = None,
                   downloads: Downloads | None = None, admission: Admission | None = None) -> gr.Blocks:
    """The app: Chat, and with `arena` (and two contestants or more) Arena and Leaderboard.
    `problem`: why the app's first model could not be loaded (it runs the preview).
    `downloads`: where exports wait for their one download (the same object must go to
    `launch_options`, whose middleware serves them). `admission`: how many replies the app
    holds at once, one per browser session (engine/admission.py)."""
    register_static_paths()
    downloads = downloads or Downloads()
    handlers = ChatHandlers(pool, downloads, admission or Admission())
    loaded = pool.get(pool.default)
    labels = Labels()
    with gr.Blocks(title="BiMediX Chat", delete_cache=DELETE_CACHE) as demo:
        # A function, not the bound method: Gradio deep-copies the page config on each page
        # load, and a bound method would take the handlers (and the models) with it.
        state = gr.State(None, delete_callback=lambda conversation: handlers.discard(conversation))
        w = _header(labels)
        # Every admitted reply starts at once and waits for its model there (engine/backend.py
        # runs `--max-concurrency` at once per model): admission, not Gradio's queue, decides
        # who waits, so one client's pile of requests is refused instead of queued ahead
        # of everyone else.
        generate = {"concurrency_id": "generate", "concurrency_limit": handlers.admission.limit}
        with gr.Tabs(elem_id="bmx-tabs"):
            with labels.make(gr.Tab, label=Text("chat_tab"), id="chat", elem_id="chat-tab"):
                _body(w, labels, pool, loaded, problem)
            if arena:
                _arena_tabs(pool, arena, handlers, w.ui_lang, generate, labels)
        _wire_chat(w, state, handlers, generate)
        language_known = _wire_interface_language(demo, w, state, pool, problem, labels)
        # A conversation this browser was asked to keep comes back (ui/browser_memory.py).
        # A value this browser cannot open (another browser's, or kept before a restart) is deleted.
        # Queued: Gradio shows a warning only from a queued event (an unqueued one prints it in
        # the server's log), and "could not be read" / "was cut" are warnings. Once the page's
        # language is known, so both and the notes on the messages are in it.
        language_known.then(handlers.restore, [w.kept, state, w.ui_lang], [w.chatbot, state, w.keep, w.kept],
                            api_name=False)
    return demo


def _arena_tabs(pool: ModelPool, config: ArenaConfig, chat: ChatHandlers, ui_lang, generate: dict,
                labels: Labels) -> None:
    """The Arena and Leaderboard tabs, when there are two contestants or more. They share
    the chat's token backend, admission and downloads."""
    if len(contestants(pool, config.contestants)) < 2:
        return
    from arena import open_store
    from ui import arena as arena_tab
    from ui import leaderboard as leaderboard_tab

    store = open_store(config.database)
    # The arena's replies are as long as the chat's default on this device.
    settings = replace(arena_tab.ARENA_OPTIONS.settings, max_new_tokens=pool.get(pool.default).default_reply_tokens)
    handlers = arena_tab.ArenaHandlers(pool, store, config, chat.backend,
                                       replace(arena_tab.ARENA_OPTIONS, settings=settings), admission=chat.admission)
    arena_tab.build_arena_tab(handlers, ui_lang, generate, labels)
    leaderboard_tab.build_leaderboard_tab(
        leaderboard_tab.LeaderboardHandlers(store, config.study, config.admin_code, chat.downloads,
                                            shown_name=pool.public_contestant), ui_lang, labels)


def _header(labels: Labels) -> SimpleNamespace:
    w = SimpleNamespace()
    with gr.Row(elem_id="bmx-header", equal_height=True):
        labels.make(gr.Markdown, value=Text(_title), elem_id="bmx-title")
        w.ui_lang = gr.Radio(UI_LANGUAGE_CHOICES, value="en", label=UI_LANGUAGE_LABEL,
                             elem_id="bmx-ui-language", scale=0, min_width=240)
    # In view on every screen size, above everything else (the full text is in the side panel).
    labels.make(gr.Markdown, value=Text(_banner), elem_id="bmx-banner")
    return w


def _body(w: SimpleNamespace, labels: Labels, pool: ModelPool, loaded: LoadedModel,
          problem: UserFacingError | None) -> None:
    with gr.Row(elem_id="bmx-body"):
        with gr.Column(scale=3, elem_id="bmx-main"):
            _chat_panel(w, labels, reads_images(loaded))
        with gr.Column(scale=1, min_width=280, elem_id="bmx-side"):
            _side_panel(w, labels, pool, loaded, problem)


def _title(lang: str) -> str:
    return f"# BiMediX Chat\n{text('subtitle', lang)}"


def _chat_panel(w: SimpleNamespace, labels: Labels, reads: bool) -> None:
    """`reads`: whether the app's first model reads images (each session starts on it)."""
    w.chatbot = labels.make(
        gr.Chatbot, label=Text("chatbot"), elem_id="chatbot", height=CHAT_HEIGHT, placeholder=Text("chat_placeholder"),
        # Messages arrive as HTML already rendered by ui/bidi.py, each with its own direction;
        # Gradio only sanitizes it. No copy buttons: they would copy that HTML.
        render_markdown=False, sanitize_html=True, latex_delimiters=[], buttons=[], feedback_options=None,
    )
    with gr.Row(elem_id="bmx-input-row", equal_height=True):
        w.message = labels.make(
            gr.MultimodalTextbox, label=Text("input"), show_label=False, placeholder=Text("input_placeholder"),
            # No file_types: Gradio's own check answers "Invalid file type" in English whatever
            # the interface language; the engine's intake refuses what it cannot read, worded
            # in the interface language (and checks the content, not the name).
            file_count="multiple", submit_btn=False, elem_id="bmx-input", scale=8,
        )
        w.send = labels.make(gr.Button, value=Text("send"), variant="primary", elem_id="bmx-send", scale=1,
                             min_width=90)
        # Shown while the box holds an image the model cannot see (ui/image_support.py).
        w.send_text_only = labels.make(gr.Button, value=Text("send_without_image"), elem_id="bmx-send-text-only",
                                       scale=1, min_width=90, visible=False)
    with gr.Row(elem_id="bmx-actions"):
        w.stop = labels.make(gr.Button, value=Text("stop"), variant="stop", elem_id="bmx-stop", size="sm",
                             interactive=False)  # enabled while a reply runs
        w.regenerate = labels.make(gr.Button, value=Text("regenerate"), elem_id="bmx-regenerate", size="sm")
        w.clear = labels.make(gr.Button, value=Text("clear"), elem_id="bmx-clear", size="sm")
        w.export = labels.make(gr.Button, value=Text("export"), elem_id="bmx-export", size="sm")
    # Links to one-time downloads (ui/downloads.py), not a gr.File: its URLs show server paths.
    w.export_files = gr.HTML("", visible=False, elem_id="bmx-export-files")
    # Examples with an image only for a model that reads images (its reply call refuses
    # one otherwise): two sets, one shown, switched with the model (ChatHandlers.image_controls).
    w.examples_images, w.examples_text = (
        labels.make(gr.Examples, examples=[[example] for example in example_messages(with_images)], inputs=[w.message],
                    label=Text("examples"), elem_id=elem_id, visible=with_images == reads)
        for with_images, elem_id in ((True, "bmx-examples"), (False, "bmx-examples-text")))


def _side_panel(w: SimpleNamespace, labels: Labels, pool: ModelPool, loaded: LoadedModel, problem) -> None:
    # Public names as values: a local model's path stays on the server.
    # Each model that reads images is marked so (ui/image_support.py).
    w.model = labels.make(gr.Dropdown, choices=Text(lambda lang: model_choices(pool, lang)),
                          value=pool.public_name(pool.default), label=Text("model"), info=Text("model_info"),
                          interactive=len(pool.names()) > 1, elem_id="bmx-model")
    # The card depends on the session's model too: relabelled by hand (_wire_interface_language).
    w.card = gr.Markdown(model_card(loaded, "en", problem), elem_id="model-card")
    # While a model's vLLM starts (minutes), its card counts down; the timer stops once it is up.
    w.card_timer = gr.Timer(CARD_REFRESH_S, active=vllm_starting(loaded))
    w.adapter = labels.make(gr.Dropdown, **adapter_choices(loaded, pool.default_adapter(pool.default)),
                            label=Text("adapter"),
                            info=Text("adapter_info"), elem_id="bmx-adapter")
    w.reply_language = labels.make(gr.Radio, choices=Text(reply_language_choices), value="auto",
                                   label=Text("reply_language"), info=Text("reply_language_info"), elem_id="bmx-reply-language")
    with labels.make(gr.Accordion, label=Text("settings"), open=False, elem_id="bmx-settings"):
        w.temperature = labels.make(gr.Slider, minimum=0, maximum=1.5, value=0.7, step=0.05,
                                    label=Text("temperature"), info=Text("temperature_info"), elem_id="bmx-temperature")
        w.top_p = labels.make(gr.Slider, minimum=0.05, maximum=1, value=0.9, step=0.05, label=Text("top_p"), info=Text("top_p_info"),
                              elem_id="bmx-top-p")
        w.max_new_tokens = labels.make(gr.Slider, minimum=1, maximum=2048, value=loaded.default_reply_tokens, step=1,
                                       label=Text("max_new_tokens"), info=Text("max_new_tokens_info"), elem_id="bmx-max-new-tokens")
        w.repetition_penalty = labels.make(gr.Slider, minimum=1, maximum=2, value=1.1, step=0.05,
                                           label=Text("repetition_penalty"), info=Text("repetition_penalty_info"), elem_id="bmx-repetition-penalty")
        w.seed = labels.make(gr.Number, value=-1, precision=0, minimum=-1, label=Text("seed"), info=Text("seed_info"), elem_id="bmx-seed")
    labels.make(gr.Markdown, value=Text(_disclaimer), elem_id="disclaimer")
    w.keep = labels.make(gr.Checkbox, value=False, label=Text("keep_conversation"), info=Text("keep_info"),
                         elem_id="bmx-keep")
    w.forget = labels.make(gr.Button, value=Text("forget"), elem_id="bmx-forget", size="sm")
    # Gradio's own encryption uses a secret every page reads (/config); what it stores is
    # sealed by the server for this browser first (ui/browser_seal.py).
    w.kept = gr.BrowserState(None, storage_key=STORAGE_KEY, secret=PAGE_LAYER_SECRET)


def _disclaimer(lang: str) -> str:
    return f"{text('disclaimer', lang)}\n\n{icon('lock', lang)} {text('privacy', lang)}"


def _banner(lang: str) -> str:
    return f"{icon('warning', lang)} {text('banner', lang)}"


def _wire_chat(w: SimpleNamespace, state, handlers: ChatHandlers, queue: dict) -> None:
    options = [w.reply_language, w.temperature, w.top_p, w.max_new_tokens, w.repetition_penalty,
               w.seed, w.adapter, w.ui_lang]
    respond = {"fn": handlers.respond, "inputs": [w.message, state, *options],
               "outputs": [w.chatbot, w.message, state], **queue}
    text_only = {**respond, "fn": handlers.respond_text_only}
    image_controls = [w.examples_images.dataset, w.examples_text.dataset, w.send_text_only]
    regenerate = {"fn": handlers.regenerate, "inputs": [state, *options], "outputs": [w.chatbot, state], **queue}
    # Stop and Clear end replies through the Conversation, not Gradio's `cancels` (see
    # ui/handlers.py); the unqueued first step tells a Stop pressed before this click from
    # one pressed while the request waits in the queue.
    for trigger, request, api_name in ((w.send.click, respond, "respond"), (w.message.submit, respond, False),
                                       (w.regenerate.click, regenerate, "regenerate"),
                                       (w.send_text_only.click, text_only, False)):
        # Stop is enabled from the click until the reply has ended. "multiple": a message sent
        # while a reply is written reaches the handler, which says why it is refused, instead
        # of Gradio dropping the click without a word.
        trigger(handlers.expect_reply, [state], [state, w.stop], queue=False, api_name=False,
                trigger_mode="multiple").then(api_name=api_name, trigger_mode="multiple", **request).then(
            handlers.stop_button, [state], [w.stop], queue=False, api_name=False).then(
            handlers.remember, [w.keep, state], [w.kept], queue=False, api_name=False).then(
            handlers.image_controls, [w.message, state], image_controls, queue=False, api_name=False)
    w.stop.click(handlers.stop, [state], None, api_name="stop")
    cleared = [w.chatbot, w.message, w.export_files, state]
    w.clear.click(handlers.clear, [state], cleared, api_name="clear").then(
        handlers.remember, [w.keep, state], [w.kept], queue=False, api_name=False).then(
        handlers.image_controls, [w.message, state], image_controls, queue=False, api_name=False)
    # Queued, as Forget below: the warning that a browser without the app's cookie keeps
    # nothing is a toast, and an unqueued event's toast only reaches the server's log.
    w.keep.input(handlers.choose_keep, [w.keep, state, w.ui_lang], [w.kept], api_name=False)
    # Queued: Gradio shows gr.Info only from a queued event (an unqueued one prints it in
    # the server's log), and the confirmation is the only sign that anything was forgotten.
    w.forget.click(handlers.forget, [w.ui_lang], [w.kept, w.keep], api_name=False)
    w.export.click(handlers.export, [state, w.ui_lang], [w.export_files], api_name="export")
    # `input`, not `change`: only the person's own choice loads a model (a revert after a
    # failed load must not trigger another). Loading can take minutes: its own queue.
    w.model_switched = w.model.input(
        handlers.switch_model, [w.model, state, w.ui_lang], [w.model, w.card, w.adapter, state],
        api_name="switch_model", concurrency_id="load_model", concurrency_limit=1).then(
        handlers.image_controls, [w.message, state], image_controls, queue=False, api_name=False)


def _wire_interface_language(demo: gr.Blocks, w: SimpleNamespace, state, pool: ModelPool, problem,
                             labels: Labels):
    """Returns the page load's last step, once the page's language is set (for `.then`)."""
    def card_of(conversation, lang: str) -> tuple[object, str]:
        """The session's model (as it serves now) and its card in `lang`."""
        loaded = pool.current(conversation.loaded) if conversation is not None else pool.get(pool.default)
        said = pool.problem_of(loaded) or (problem if loaded is pool.get(pool.default) else None)
        return loaded, model_card(loaded, lang, said)

    def refresh_card(lang: str, conversation) -> tuple:
        loaded, card = card_of(conversation, lang if lang in UI_LANGUAGES else "en")
        return card, gr.Timer(active=vllm_starting(loaded))

    def relabel(lang: str, conversation) -> dict:
        lang = lang if lang in UI_LANGUAGES else "en"
        loaded, card = card_of(conversation, lang)
        updates = labels.relabel(lang)
        # The notes on the messages (time, model, how a reply ended) follow the interface too,
        # also on a reply still being written: its stream renders in the language kept here.
        # No conversation yet: nothing to re-render, and one restored meanwhile at page load
        # (ChatHandlers.restore) must not be replaced by an empty chat.
        if conversation is not None:
            conversation.ui_lang = lang
            updates[w.chatbot] = {**updates[w.chatbot], "value": chat_messages(conversation, lang)}
        # "none" in the adapter selector too; the person's choice stays as it is.
        choices = adapter_choices(loaded, lang=lang)["choices"]
        updates[w.adapter] = {**updates[w.adapter], "choices": choices}
        return {**updates, w.card: card}

    w.card_timer.tick(refresh_card, [w.ui_lang, state], [w.card, w.card_timer], api_name=False, queue=False,
                      show_progress="hidden")
    # A model chosen while its vLLM starts: its card counts down too.
    w.model_switched.then(refresh_card, [w.ui_lang, state], [w.card, w.card_timer], api_name=False, queue=False,
                          show_progress="hidden")
    w.ui_lang.change(relabel, [w.ui_lang, state], [*labels.components, w.card], api_name=False, queue=False).then(
        None, [w.ui_lang], None, js=APPLY_DIRECTION_JS)
    # The page opens in the browser's language, with dir/lang set on the container either way.
    return demo.load(preferred_language, None, [w.ui_lang], api_name=False, queue=False).then(
        None, [w.ui_lang], None, js=APPLY_DIRECTION_JS)
