"""The chat screen: a streaming, bilingual multi-turn chat on the app's models.

Each browser tab gets its own Conversation (gr.State), so one user's conversation never
shows in another's window. The model selector offers the app's models (engine/pool.py):
each loads when first chosen and is then shared; each runs at most `max_concurrency`
replies at once (engine/backend.py), the other requests wait in the queue.

Layout direction: the interface language selector relabels every component from
ui/strings.py and sets `dir`/`lang` on the app container, so the whole layout mirrors
for Arabic. Message direction is separate: each message carries its own (ui/bidi.py).
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from engine.errors import UserFacingError, notice
from engine.loading import LoadedModel
from engine.pool import ModelPool
from ui.arena_round import ArenaConfig, contestants
from ui.assets import example_messages, register_static_paths
from ui.conversation import NO_ADAPTER
from ui.handlers import ChatHandlers
from ui.strings import UI_LANGUAGE_CHOICES, UI_LANGUAGE_LABEL, UI_LANGUAGES, reply_language_choices, text

FILE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".dcm"]
# Uploaded images and exports sit in Gradio's cache: checked every 30 minutes, deleted after an hour.
DELETE_CACHE = (1800, 3600)

# Runs in the browser after a language switch: the container's direction mirrors the layout.
APPLY_DIRECTION_JS = """
(lang) => {
    const root = document.querySelector('.gradio-container') || document.documentElement;
    const rtl = lang === 'ar';
    root.setAttribute('dir', rtl ? 'rtl' : 'ltr');
    root.setAttribute('lang', rtl ? 'ar' : 'en');
    root.classList.toggle('bmx-rtl', rtl);
    return [];
}
"""


def model_card(loaded: LoadedModel, lang: str, problem: UserFacingError | None = None) -> str:
    """The model's card: title, description, notice (cards are written in English), and,
    when the app had to fall back to the preview model, why."""
    card = loaded.card
    lines = [f"### {text('model_heading', lang)}", f"**{card.title}**  ", card.description]
    if card.notice:
        lines.append(f"\n⚠️ {card.notice}")
    if not card.medical and (lang != "en" or not card.notice):  # the English notice says it already
        lines.append(f"\n⚠️ {text('not_medical', lang)}")
    if problem is not None:
        lines.append(f"\nℹ️ {problem.message(lang)} {notice('preview_fallback', lang)}")
    return "\n".join(lines)


def adapter_choices(loaded: LoadedModel) -> dict:
    """The adapter selector for a model: "none" plus its adapters."""
    adapters = loaded.adapters.names()
    return {"choices": [NO_ADAPTER, *adapters], "value": loaded.adapters.active or NO_ADAPTER,
            "interactive": bool(adapters)}


def preferred_language(request: gr.Request) -> str:
    """Arabic when the browser asks for Arabic first, else English."""
    accept = (request.headers.get("accept-language", "") if request else "").strip().lower()
    return "ar" if accept.startswith("ar") else "en"


def build_chat_app(pool: ModelPool, problem: UserFacingError | None = None, max_concurrency: int = 1,
                   arena: ArenaConfig | None = None) -> gr.Blocks:
    """The app: Chat, and with `arena` (and two contestants or more) Arena and Leaderboard.
    `problem`: why the app's first model could not be loaded (it runs the preview)."""
    register_static_paths()
    handlers = ChatHandlers(pool)
    loaded = pool.get(pool.default)
    with gr.Blocks(title="BiMediX Chat", delete_cache=DELETE_CACHE) as demo:
        state = gr.State(None, delete_callback=lambda conversation: conversation and conversation.discard())
        w = _header()
        # Each model limits its own replies (engine/backend.py); the queue lets enough
        # through for every model to be busy at once.
        generate = {"concurrency_id": "generate", "concurrency_limit": max_concurrency * len(pool.names())}
        with gr.Tabs(elem_id="bmx-tabs"):
            with gr.Tab(text("chat_tab", "en"), id="chat", elem_id="chat-tab") as w.chat_tab:
                _body(w, pool, loaded, problem)
            tabs = _arena_tabs(pool, arena, handlers.backend, w.ui_lang, generate) if arena else None
        _wire_chat(w, state, handlers, generate)
        _wire_interface_language(demo, w, state, pool, problem, tabs)
    return demo


def _arena_tabs(pool: ModelPool, config: ArenaConfig, backend, ui_lang, generate: dict):
    """The Arena and Leaderboard tabs, or None when there is nothing to compare."""
    if len(contestants(pool, config.contestants)) < 2:
        return None
    from arena import open_store
    from ui import arena as arena_tab
    from ui import leaderboard as leaderboard_tab

    store = open_store(config.database)
    arena_widgets = arena_tab.build_arena_tab(arena_tab.ArenaHandlers(pool, store, config, backend), ui_lang, generate)
    board = leaderboard_tab.build_leaderboard_tab(
        leaderboard_tab.LeaderboardHandlers(store, config.study, config.admin_code), ui_lang)
    return SimpleNamespace(arena=arena_widgets, leaderboard=board, modules=(arena_tab, leaderboard_tab))


def _header() -> SimpleNamespace:
    w = SimpleNamespace()
    with gr.Row(elem_id="bmx-header", equal_height=True):
        w.title = gr.Markdown(_title("en"), elem_id="bmx-title")
        w.ui_lang = gr.Radio(UI_LANGUAGE_CHOICES, value="en", label=UI_LANGUAGE_LABEL,
                             elem_id="bmx-ui-language", scale=0, min_width=240)
    return w


def _body(w: SimpleNamespace, pool: ModelPool, loaded: LoadedModel, problem: UserFacingError | None) -> None:
    with gr.Row(elem_id="bmx-body"):
        with gr.Column(scale=3, elem_id="bmx-main"):
            _chat_panel(w)
        with gr.Column(scale=1, min_width=280, elem_id="bmx-side"):
            _side_panel(w, pool, loaded, problem)


def _title(lang: str) -> str:
    return f"# BiMediX Chat\n{text('subtitle', lang)}"


def _chat_panel(w: SimpleNamespace) -> None:
    w.chatbot = gr.Chatbot(
        label=text("chatbot", "en"), elem_id="chatbot", height=520, placeholder=text("chat_placeholder", "en"),
        # Messages arrive as HTML already rendered by ui/bidi.py, each with its own direction;
        # Gradio only sanitizes it. No copy buttons: they would copy that HTML.
        render_markdown=False, sanitize_html=True, latex_delimiters=[], buttons=[], feedback_options=None,
    )
    with gr.Row(elem_id="bmx-input-row", equal_height=True):
        w.message = gr.MultimodalTextbox(
            label=text("input", "en"), show_label=False, placeholder=text("input_placeholder", "en"),
            file_types=FILE_TYPES, file_count="multiple", submit_btn=False, elem_id="bmx-input", scale=8,
        )
        w.send = gr.Button(text("send", "en"), variant="primary", elem_id="bmx-send", scale=1, min_width=90)
    with gr.Row(elem_id="bmx-actions"):
        w.stop = gr.Button(text("stop", "en"), variant="stop", elem_id="bmx-stop", size="sm")
        w.regenerate = gr.Button(text("regenerate", "en"), elem_id="bmx-regenerate", size="sm")
        w.clear = gr.Button(text("clear", "en"), elem_id="bmx-clear", size="sm")
        w.export = gr.Button(text("export", "en"), elem_id="bmx-export", size="sm")
    w.export_files = gr.File(label=text("export_files", "en"), file_count="multiple", interactive=False,
                             visible=False, elem_id="bmx-export-files")
    w.examples = gr.Examples([[example] for example in example_messages()], inputs=[w.message],
                             label=text("examples", "en"), elem_id="bmx-examples")


def _side_panel(w: SimpleNamespace, pool: ModelPool, loaded: LoadedModel, problem) -> None:
    w.model = gr.Dropdown([(pool.title(name), name) for name in pool.names()], value=pool.default,
                          label=text("model", "en"), info=text("model_info", "en"),
                          interactive=len(pool.names()) > 1, elem_id="bmx-model")
    w.card = gr.Markdown(model_card(loaded, "en", problem), elem_id="model-card")
    w.adapter = gr.Dropdown(**adapter_choices(loaded), label=text("adapter", "en"), info=text("adapter_info", "en"),
                            elem_id="bmx-adapter")
    w.reply_language = gr.Radio(reply_language_choices("en"), value="auto", label=text("reply_language", "en"),
                                elem_id="bmx-reply-language")
    with gr.Accordion(text("settings", "en"), open=False, elem_id="bmx-settings") as w.settings:
        w.temperature = gr.Slider(0, 1.5, value=0.7, step=0.05, label=text("temperature", "en"),
                                  elem_id="bmx-temperature")
        w.top_p = gr.Slider(0.05, 1, value=0.9, step=0.05, label=text("top_p", "en"), elem_id="bmx-top-p")
        w.max_new_tokens = gr.Slider(1, 2048, value=512, step=1, label=text("max_new_tokens", "en"),
                                     elem_id="bmx-max-new-tokens")
        w.repetition_penalty = gr.Slider(1, 2, value=1.1, step=0.05, label=text("repetition_penalty", "en"),
                                         elem_id="bmx-repetition-penalty")
        w.seed = gr.Number(-1, precision=0, minimum=-1, label=text("seed", "en"), elem_id="bmx-seed")
    w.disclaimer = gr.Markdown(_disclaimer("en"), elem_id="disclaimer")


def _disclaimer(lang: str) -> str:
    return f"{text('disclaimer', lang)}\n\n🔒 {text('privacy', lang)}"


def _wire_chat(w: SimpleNamespace, state, handlers: ChatHandlers, queue: dict) -> None:
    options = [w.reply_language, w.temperature, w.top_p, w.max_new_tokens, w.repetition_penalty,
               w.seed, w.adapter, w.ui_lang]
    respond = {"fn": handlers.respond, "inputs": [w.message, state, *options],
               "outputs": [w.chatbot, w.message, state], **queue}
    regenerate = {"fn": handlers.regenerate, "inputs": [state, *options], "outputs": [w.chatbot, state], **queue}
    # Stop and Clear end replies through the Conversation, not Gradio's `cancels` (see
    # ui/handlers.py); the unqueued first step tells a Stop pressed before this click from
    # one pressed while the request waits in the queue.
    for trigger, request, api_name in ((w.send.click, respond, "respond"), (w.message.submit, respond, False),
                                       (w.regenerate.click, regenerate, "regenerate")):
        trigger(handlers.expect_reply, [state], [state], queue=False, api_name=False).then(
            api_name=api_name, **request)
    w.stop.click(handlers.stop, [state], None, api_name="stop")
    cleared = [w.chatbot, w.message, w.export_files, state]
    w.clear.click(handlers.clear, [state], cleared, api_name="clear")
    w.chatbot.clear(handlers.clear, [state], cleared, api_name=False)  # its own bin icon
    w.export.click(handlers.export, [state, w.ui_lang], [w.export_files], api_name="export")
    # `input`, not `change`: only the person's own choice loads a model (a revert after a
    # failed load must not trigger another). Loading can take minutes: its own queue.
    w.model.input(handlers.switch_model, [w.model, state, w.ui_lang], [w.model, w.card, w.adapter, state],
                  api_name="switch_model", concurrency_id="load_model", concurrency_limit=1)


def _wire_interface_language(demo: gr.Blocks, w: SimpleNamespace, state, pool: ModelPool, problem,
                             tabs: SimpleNamespace | None) -> None:
    def relabel(lang: str, conversation) -> dict:
        lang = lang if lang in UI_LANGUAGES else "en"
        loaded = conversation.loaded if conversation is not None else pool.get(pool.default)
        return {
            **_relabel_tabs(tabs, lang),
            w.chat_tab: gr.update(label=text("chat_tab", lang)),
            w.title: _title(lang),
            w.model: gr.update(label=text("model", lang), info=text("model_info", lang)),
            w.card: model_card(loaded, lang, problem if loaded is pool.get(pool.default) else None),
            w.chatbot: gr.update(label=text("chatbot", lang), placeholder=text("chat_placeholder", lang)),
            w.message: gr.update(label=text("input", lang), placeholder=text("input_placeholder", lang)),
            **{button: gr.update(value=text(key, lang)) for button, key in (
                (w.send, "send"), (w.stop, "stop"), (w.regenerate, "regenerate"), (w.clear, "clear"),
                (w.export, "export"))},
            w.export_files: gr.update(label=text("export_files", lang)),
            w.examples.dataset: gr.update(label=text("examples", lang)),
            w.adapter: gr.update(label=text("adapter", lang), info=text("adapter_info", lang)),
            w.reply_language: gr.update(label=text("reply_language", lang), choices=reply_language_choices(lang)),
            w.settings: gr.update(label=text("settings", lang)),
            **{slider: gr.update(label=text(key, lang)) for slider, key in (
                (w.temperature, "temperature"), (w.top_p, "top_p"), (w.max_new_tokens, "max_new_tokens"),
                (w.repetition_penalty, "repetition_penalty"), (w.seed, "seed"))},
            w.disclaimer: _disclaimer(lang),
        }

    relabelled = [*_relabel_tabs(tabs, "en"), w.chat_tab, w.title, w.model, w.card, w.chatbot, w.message, w.send, w.stop, w.regenerate, w.clear,
                  w.export, w.export_files, w.examples.dataset, w.adapter, w.reply_language, w.settings,
                  w.temperature, w.top_p, w.max_new_tokens, w.repetition_penalty, w.seed, w.disclaimer]
    w.ui_lang.change(relabel, [w.ui_lang, state], relabelled, api_name=False, queue=False).then(
        None, [w.ui_lang], None, js=APPLY_DIRECTION_JS)
    # The page opens in the browser's language, with dir/lang set on the container either way.
    demo.load(preferred_language, None, [w.ui_lang], api_name=False, queue=False).then(
        None, [w.ui_lang], None, js=APPLY_DIRECTION_JS)


def _relabel_tabs(tabs: SimpleNamespace | None, lang: str) -> dict:
    if tabs is None:
        return {}
    arena_tab, leaderboard_tab = tabs.modules
    return {**arena_tab.relabel(tabs.arena, lang), **leaderboard_tab.relabel(tabs.leaderboard, lang)}
