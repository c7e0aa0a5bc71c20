"""The app's icons, drawn by the browser from SVG outlines (no font needed: the emoji and
symbols they replace, ⧉ ⏳ ⚠️ 🔒 🗄️, showed as empty boxes on a machine with only its
standard fonts), each with a label in the interface language.

    icon("warning", lang)   # <span class="bmx-icon bmx-icon-warning" role="img" title="Warning"></span>
    icon("copy")            # decorative: no label (the button it sits in has one)

An icon is an empty span whose shape is a CSS mask (`icon_css`, in the app's stylesheet),
painted in the text colour. Not inline <svg>: Gradio's HTML sanitizer (Markdown and chat
messages) drops an SVG's `viewBox` (its allow-list is lowercase, the attribute camel-case),
so the 24×24 outline was clipped to its top-left corner, and drops `aria-label`; a span's
`class`, `role` and `title` are kept.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from ui.strings import text

# 24×24 outlines in the style of Gradio's own icons (a 2-unit stroke, round ends).
_PATHS = {
    "copy": '<rect x="9" y="9" width="12" height="12" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
    "hourglass": '<path d="M6 2h12M6 22h12M7 2v4a5 5 0 0 0 10 0V2M7 22v-4a5 5 0 0 1 10 0v4"/>',
    "warning": '<path d="M10.3 3.9 1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z"/>'
               '<path d="M12 9v4M12 17h.01"/>',
    "info": '<circle cx="12" cy="12" r="10"/><path d="M12 16v-4M12 8h.01"/>',
    "lock": '<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "storage": '<ellipse cx="12" cy="5" rx="8" ry="3"/><path d="M4 5v14c0 1.7 3.6 3 8 3s8-1.3 8-3V5"/>'
               '<path d="M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3"/>',
}
# Each icon's label, a ui/strings.py key (said by screen readers where the icon is not decorative).
LABELS = {"copy": "copy", "hourglass": "icon_wait", "warning": "icon_warning", "info": "icon_info",
          "lock": "icon_privacy", "storage": "icon_storage"}


def icon(name: str, lang: str | None = None) -> str:
    """The icon `name`, labelled in `lang`; without `lang`, decorative (no label: the
    control it sits in carries one)."""
    label = f' role="img" title="{html.escape(text(LABELS[name], lang))}"' if lang else ""
    return f'<span class="bmx-icon bmx-icon-{name}"{label}></span>'


def svg(name: str) -> str:
    """The icon's outline as a standalone SVG document (black on transparent)."""
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="black" '
            f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{_PATHS[name]}</svg>')


def icon_css() -> str:
    """Each icon's shape as a CSS mask (sizes and colours: assets/chat.css `.bmx-icon`)."""
    rules = []
    for name in _PATHS:
        url = f'url("data:image/svg+xml,{quote(svg(name), safe="")}")'
        rules.append(f".bmx-icon-{name} {{ -webkit-mask-image: {url}; mask-image: {url}; }}")
    return "\n".join(rules)
