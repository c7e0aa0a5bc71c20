"""Each widget's interface text, written once: a registry filled while the screens are
built, that relabels every tab when the interface language changes.

    labels = Labels()
    send = labels.make(gr.Button, value=Text("send"), variant="primary")      # ui/strings.py key
    mode = labels.make(gr.Radio, label=Text("reply_language"), choices=Text(reply_language_choices),
                       value="auto")
    ...
    ui_lang.change(labels.relabel, [ui_lang], labels.components)

Any keyword argument given as a `Text` (a ui/strings.py key, or a function of the
language for choices and Markdown) is rendered in the build language and registered;
`relabel(lang)` gives every registered widget's update in `lang`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import gradio as gr

from ui.strings import UI_LANGUAGES, text

BUILD_LANGUAGE = "en"


@dataclass(frozen=True)
class Text:
    """Interface text: a key of ui/strings.py, or a function of the language."""

    source: Union[str, Callable[[str], object]]

    def render(self, lang: str):
        return self.source(lang) if callable(self.source) else text(self.source, lang)


class Labels:
    def __init__(self) -> None:
        self._entries: list[tuple[object, dict[str, Text]]] = []

    def make(self, factory, /, **kwargs):
        """`factory(**kwargs)` with every `Text` argument rendered; the widget is registered."""
        texts = {name: value for name, value in kwargs.items() if isinstance(value, Text)}
        component = factory(**{**kwargs, **{name: value.render(BUILD_LANGUAGE) for name, value in texts.items()}})
        # gr.Examples is not a component: its dataset is what shows the label.
        self._entries.append((getattr(component, "dataset", component), texts))
        return component

    @property
    def components(self) -> list:
        return [component for component, _ in self._entries]

    def relabel(self, lang: str) -> dict:
        """Every registered widget's texts in `lang`."""
        return {component: gr.update(**{name: value.render(lang) for name, value in texts.items()})
                for component, texts in self._entries}


# Gradio's own texts that its frontend writes in English whatever its locale (tooltips and
# screen-reader labels), each with the ui/strings.py key of its Arabic: assets/chat.js
# relabels them in the Arabic interface.
GRADIO_TEXTS = {
    "Upload a file": "g_upload_file", "Click to upload or drop files": "g_upload_file", "File upload": "g_upload_file",
    "Multimedia input field": "input", "chatbot conversation": "chatbot", "Reset to default value": "g_reset",
    "More tabs": "g_more_tabs", "Clear": "clear", "Remove": "g_remove", "Remove file": "g_remove",
    "Fullscreen": "g_fullscreen", "Exit fullscreen mode": "g_exit_fullscreen", "Download": "g_download",
    "Copy": "g_copy", "Copied": "g_copied", "Copy table data": "g_copy", "Sort column": "g_sort",
    "Close": "g_close", "Dismiss": "g_close", "Loading...": "g_loading",
    # A chat message's screen-reader label begins with its role (assets/chat.js).
    "user": "g_user", "assistant": "g_assistant",
    "Table actions": "g_table_actions", "Open cell menu": "g_cell_menu", "Vega visualization": "g_chart",
    # Keys Gradio's Arabic locale lacks: its status announcer then says the key itself.
    "common.complete": "g_complete", "common.progress": "g_progress",
}
# Gradio's (and its plots') labels that name a widget: a regular expression for the English,
# and the key of a template in which $1 is what it caught.
GRADIO_PATTERNS = {
    r"^number input for (.+)$": "g_number_input", r"^range slider for (.+)$": "g_range_slider",
    r"^X-axis titled '(.*)' for .*$": "g_x_axis", r"^Y-axis titled '(.*)' for .*$": "g_y_axis",
}


def gradio_texts(lang: str) -> dict[str, str]:
    """GRADIO_TEXTS in `lang`: English text -> its translation."""
    return {english: text(key, lang) for english, key in GRADIO_TEXTS.items()}


def gradio_patterns(lang: str) -> dict[str, str]:
    """GRADIO_PATTERNS in `lang`: regular expression -> template ($1: what it caught)."""
    return {pattern: text(key, lang) for pattern, key in GRADIO_PATTERNS.items()}


# A toast's title by its kind, each a ui/strings.py key: Gradio 6.31's toast shows its kind
# ("Warning") and drops the title that gr.Warning(title=...) sends, so assets/chat.js
# writes these over it in either language.
TOAST_TITLES = {"warning": "toast_warning", "info": "toast_info", "error": "toast_error"}


def toast_titles() -> dict[str, dict[str, str]]:
    """TOAST_TITLES in each interface language: language -> kind -> title."""
    return {lang: {kind: text(key, lang) for kind, key in TOAST_TITLES.items()} for lang in UI_LANGUAGES}
