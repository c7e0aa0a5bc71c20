"""Per-message direction: each message is rendered as its own right-to-left or left-to-right block.

Gradio's `rtl=` flag turns a whole component around; a bilingual conversation needs each
message to follow its own content. The direction comes from the same rule as the reply
language (engine.language.detect_language: the Arabic share of the words, with acronyms,
units and numbers neutral), so "CBC نتائج" reads right-to-left while "What does كبد mean?"
reads left-to-right. Messages with no words of their own ("500 mg?") keep the direction
of the conversation so far.

The Markdown is rendered here by markdown-it-py with raw HTML disabled, so whatever a
person or the model types is escaped text, never markup; Gradio's sanitizer runs on top.
Code stays left-to-right inside Arabic text (`dir="ltr"` on code), numbers are left to
the Unicode bidi algorithm, which keeps them in reading order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

from engine.language import detect_language
from engine.messages import without_bidi_controls

DIRECTIONS = {"ar": "rtl", "en": "ltr"}
MESSAGE_CLASS = "bmx-msg"


@dataclass(frozen=True)
class Direction:
    lang: str  # "ar" or "en"

    @property
    def dir(self) -> str:
        return DIRECTIONS[self.lang]


def message_direction(text: str, previous: str | None = None) -> Direction:
    """The direction of one message; `previous` decides for messages without words."""
    return Direction(detect_language(text or "", previous=previous).language)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    md.enable(["table", "strikethrough"])
    inline_code = md.renderer.rules["code_inline"]
    block_rules = {name: md.renderer.rules[name] for name in ("fence", "code_block")}

    # add_render_rule binds each rule to the renderer, hence the leading `renderer`.
    def code_inline_ltr(renderer, tokens, idx, options, env):
        tokens[idx].attrSet("dir", "ltr")
        return inline_code(tokens, idx, options, env)

    def block_ltr(name):
        def render(renderer, tokens, idx, options, env):
            # Code blocks read left to right in any message; "<pre>" opens the default output.
            return block_rules[name](tokens, idx, options, env).replace("<pre>", '<pre dir="ltr">', 1)
        return render

    def image_as_text(renderer, tokens, idx, options, env):
        # No <img>: a picture in a message or a reply would be fetched from wherever it
        # points, carrying the conversation out in its URL. Shown as written instead.
        token = tokens[idx]
        alt = renderer.renderInlineAsText(token.children or [], options, env)
        return escapeHtml(f"![{alt}]({token.attrGet('src') or ''})")

    md.add_render_rule("code_inline", code_inline_ltr)
    md.add_render_rule("image", image_as_text)
    for name in block_rules:
        md.add_render_rule(name, block_ltr(name))
    return md


_MD = _markdown()


def prose(tokens) -> str:
    """The words a person reads: code and link targets say nothing about the language."""
    return " ".join(child.content for token in tokens if token.type == "inline"
                    for child in token.children or () if child.type == "text")


@dataclass(frozen=True)
class RenderedMessage:
    html: str
    lang: str  # the language the direction was decided from: "ar" or "en"


@lru_cache(maxsize=4096)
def render_message(text: str, previous: str | None = None) -> RenderedMessage:
    """Markdown text as one HTML block with its own `dir` and `lang`.

    Cached: while a reply streams, the whole conversation is re-rendered on every chunk,
    and only the growing reply is new work.
    """
    tokens = _MD.parse(without_bidi_controls(text or ""))
    direction = message_direction(prose(tokens), previous)
    body = _MD.renderer.render(tokens, _MD.options, {})
    html = (f'<div class="{MESSAGE_CLASS}" dir="{direction.dir}" lang="{direction.lang}">'
            f"{body}</div>")
    return RenderedMessage(html, direction.lang)
