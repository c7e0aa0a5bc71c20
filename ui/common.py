"""What every screen shares: the model card, the adapter selector's choices, a
MultimodalTextbox value as text and files, and a UserFacingError shown as a warning.

A leaf of ui/: it imports nothing from the other screens, so they can all import it.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from gradio.data_classes import FileData

from engine.errors import UserFacingError, notice
from engine.loading import LoadedModel
from ui.icons import icon
from ui.strings import text

NO_ADAPTER = "none"  # the adapter selector's value for the bare base model
EMPTY_INPUT = {"text": "", "files": []}


def model_card(loaded: LoadedModel, lang: str, problem: UserFacingError | None = None) -> str:
    """The model's card: title, description, notice (in Arabic where the card has them), and,
    when the app had to fall back to the preview model, why."""
    card = loaded.card
    description, card_notice = card.described(lang)
    lines = [f"### {text('model_heading', lang)}", f"**{card.title}**  ", description]
    if vllm_starting(loaded):
        seconds = loaded.supervisor.seconds_to_ready()
        lines.append(f"\n{icon('info', lang)} {text('engine_vllm_starting', lang).format(seconds=seconds)}")
    elif loaded.engine in ("transformers", "vllm"):  # a remote model's engine is its server's business
        lines.append(f"\n{text('engine_' + loaded.engine, lang)}")
    if card_notice:
        lines.append(f"\n{icon('warning', lang)} {card_notice}")
    if not card.medical and not card_notice:  # a non-medical card's notice says it already
        lines.append(f"\n{icon('warning', lang)} {text('not_medical', lang)}")
    if problem is not None:
        fallback = "" if problem.code == "vllm_unavailable" else f" {notice('preview_fallback', lang)}"
        lines.append(f"\n{icon('info', lang)} {problem.message(lang)}{fallback}")
    return "\n".join(lines)


def vllm_starting(loaded) -> bool:
    """Whether the model's vLLM (started by this app) is still on its first start."""
    supervisor = getattr(loaded, "supervisor", None)
    return supervisor is not None and supervisor.first_start_pending


def adapter_choices(loaded: LoadedModel, default: str | None = None, lang: str = "en") -> dict:
    """The adapter selector for a model: "none" (worded in `lang`) plus its adapters, on
    the configured `default` ("none" unless the app was told otherwise; never on whatever
    another person's reply used last)."""
    adapters = loaded.adapters.names()
    choices = [(text("adapter_none", lang), NO_ADAPTER), *((name, name) for name in adapters)]
    return {"choices": choices, "value": default if default in adapters else NO_ADAPTER,
            "interactive": bool(adapters)}


def chosen_adapter(loaded: LoadedModel, choice: str | None) -> str | None:
    """The selector's value as an engine adapter: a name this model lacks (a selector
    left over from another model) means the bare model."""
    return choice if choice in loaded.adapters.names() else None


def split_message(message: dict | str | None) -> tuple[str, list[str]]:
    """A MultimodalTextbox value as (text, file paths)."""
    if isinstance(message, str):
        return message, []
    message = message or {}
    # Paths, the browser's dicts, or FileData (the value a handler gave the box).
    files = [f if isinstance(f, str) else f.get("path") if isinstance(f, dict) else getattr(f, "path", None)
             for f in message.get("files") or []]
    return message.get("text") or "", [f for f in files if f]


def with_files(message, files: list[str]):
    """A MultimodalTextbox value with these files in place of its own (names kept as shown)."""
    if not isinstance(message, dict):
        return message
    from ui.conversation import PREVIEW_SUFFIX

    return {**message, "files": [FileData(path=path, orig_name=Path(path).name.removesuffix(PREVIEW_SUFFIX),
                                          mime_type="image/png" if path.endswith(PREVIEW_SUFFIX) else None)
                                 for path in files]}


def displayable(message):
    """A MultimodalTextbox value that can go back to the browser: a lone surrogate (broken
    Unicode sent through the API) cannot be serialized, so it shows as U+FFFD."""
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return message
    text = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in message["text"])
    return {**message, "text": text}


def markdown_escaped(plain: str) -> str:
    """A typed name shown in Markdown as typed (no emphasis, links, tables or HTML from it)."""
    return "".join(f"\\{ch}" if ch in "\\`*_{}[]()<>#+-.!|~" else ch for ch in plain)


def warn(error: UserFacingError, lang: str, *more: str) -> None:
    """Tell the person what went wrong, in the interface language (a toast, no traceback)."""
    warning(" ".join([error.message(lang), *more]), lang)


# Every toast gets its title in the interface language: Gradio's own is "Warning"/"Info"/"Error".
# Gradio 6.31 sends `title` but its toast shows the kind whatever the title; assets/chat.js
# writes the interface language's over it (ui/labels.py TOAST_TITLES: the same strings).
def warning(message: str, lang: str) -> None:
    gr.Warning(message, title=text("toast_warning", lang))


def info(message: str, lang: str) -> None:
    gr.Info(message, title=text("toast_info", lang))


def error(message: str, lang: str) -> gr.Error:
    """The exception to raise (Gradio shows it as a toast and ends the event)."""
    return gr.Error(message, title=text("toast_error", lang))
