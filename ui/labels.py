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

from ui.strings import text

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
