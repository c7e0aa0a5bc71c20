"""Files the UI serves from assets/: the stylesheet, the bundled Arabic font, the examples.

The font is served by Gradio itself from a static path, so nothing is fetched from the
web at run time (offline machines, closed hospital networks).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from engine.images import MAX_FILE_BYTES
from ui.temp_folder import instance_folder

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"
FONTS_DIR = ASSETS_DIR / "fonts"
EXAMPLES_DIR = ASSETS_DIR / "examples"
CSS_FILE = ASSETS_DIR / "chat.css"
JS_FILE = ASSETS_DIR / "chat.js"
FONT_FAMILY = "Amiri"
FONT_FILES = {400: "Amiri-Regular.ttf", 700: "Amiri-Bold.ttf"}
# Amiri is used for Arabic script only; Latin text keeps the theme's font.
ARABIC_RANGES = "U+0600-06FF, U+0750-077F, U+0870-08FF, U+FB50-FDFF, U+FE70-FEFF"


ASSET_ROUTE = "bimedix/assets"
_ASSET_PATH = re.compile(r"/bimedix/assets/([A-Za-z0-9._-]+)$")


def font_url(path: Path) -> str:
    # Relative to the page, so the app also works behind a proxy path (root_path); served
    # by the app's middleware (ui/security.py) by name: no install path in the page.
    return f"{ASSET_ROUTE}/{quote(path.name)}"


def asset_file(url_path: str) -> Path | None:
    """The bundled font a `bimedix/assets/NAME` URL names, else None (nothing else is served)."""
    match = _ASSET_PATH.search(url_path)
    if match and match.group(1) in FONT_FILES.values():
        return FONTS_DIR / match.group(1)
    return None


def font_face_css() -> str:
    return "\n".join(
        f'@font-face {{ font-family: "{FONT_FAMILY}"; font-weight: {weight}; font-style: normal; '
        f'font-display: swap; unicode-range: {ARABIC_RANGES}; '
        f'src: url("{font_url(FONTS_DIR / name)}") format("truetype"); }}'
        for weight, name in FONT_FILES.items()
    )


def app_css() -> str:
    from ui.icons import icon_css

    return font_face_css() + "\n" + CSS_FILE.read_text(encoding="utf-8") + "\n" + icon_css()


def app_js() -> str:
    """assets/chat.js, given the Arabic of Gradio's English-only texts (ui/labels.py)."""
    from ui.labels import gradio_patterns, gradio_texts, toast_titles

    table = json.dumps(gradio_texts("ar"), ensure_ascii=False)
    patterns = json.dumps(gradio_patterns("ar"), ensure_ascii=False)
    titles = json.dumps(toast_titles(), ensure_ascii=False)
    return (f"() => {{ window.bmxGradioTexts = {table}; window.bmxGradioPatterns = {patterns}; "
            f"window.bmxToastTitles = {titles}; "
            f"return ({JS_FILE.read_text(encoding='utf-8')})(); }}")


def examples_folder() -> Path:
    """Where the example images are served from: a copy in this instance's temp folder
    when app.py made one (the page then shows no install path), else assets/examples."""
    instance = instance_folder()
    if instance is None:
        return EXAMPLES_DIR
    folder = instance / "examples"
    if not folder.exists():
        shutil.copytree(EXAMPLES_DIR, folder)
    return folder


def register_static_paths() -> None:
    """Let Gradio serve the example images in place (no copies in its cache)."""
    import gradio as gr

    gr.set_static_paths([examples_folder()])


def theme():
    """Gradio's default theme with Amiri first in the font stack: every Arabic letter in the
    interface (labels, examples, the message box) is set in it, Latin text is unchanged."""
    import gradio as gr

    # Bold, not SemiBold: the SemiBold file in Gradio 6.31's wheel holds only a few glyphs,
    # so 600-weight headings would mix two fonts.
    latin = gr.themes.LocalFont("Source Sans Pro", weights=(400, 700))
    return gr.themes.Default(font=(FONT_FAMILY, latin, "ui-sans-serif", "system-ui", "sans-serif"))


def launch_options(downloads=None, blocks=None) -> dict:
    """Keyword arguments for `Blocks.launch` (Gradio 6 takes css, js and theme there).

    `run_history=False`: Gradio 6 otherwise keeps every message and reply (and the arena's
    join, access code included) in the browser's localStorage after the tab is closed; on
    a shared workstation the next person would see them. False also deletes what an
    earlier version of the app left there. `footer_links=[]`: Gradio's footer ("Use via API",
    "Built with Gradio", "Settings") stays in English whatever the interface language, and
    a clinician needs none of it (the API itself is unchanged). `downloads`: the app's one-time downloads
    (ui/downloads.py), served by its middleware; `blocks`: the app, whose queue the middleware
    asks which session an event belongs to. `max_file_size`: what the image intake accepts
    (engine/images.py), so a larger upload is refused (413) before it is stored.
    `ssr_mode=False` whatever GRADIO_SSR_MODE says: server-side rendering serves files and
    uploads from worker processes that this app's middleware does not guard.
    """
    from gradio.utils import get_upload_folder

    from ui.file_owners import FileOwners
    from ui.path_alias import PathAlias
    from ui.security import app_kwargs

    folder = instance_folder() or Path(get_upload_folder())
    files = FileOwners(folder, public=(examples_folder(),))
    return {"css": app_css(), "js": app_js(), "theme": theme(),
            "allowed_paths": [str(examples_folder())], "run_history": False, "footer_links": [],
            "max_file_size": MAX_FILE_BYTES, "ssr_mode": False, "app_kwargs": app_kwargs(downloads, assets=asset_file, blocks=blocks, files=files,
                                                                     alias=PathAlias(folder))}


def example_messages(with_images: bool = True) -> list[dict]:
    """MultimodalTextbox values for the examples, with files resolved in assets/examples/.
    `with_images=False`: only those without a file, for a model that cannot see images
    (its reply call would refuse the others)."""
    examples = json.loads((EXAMPLES_DIR / "prompts.json").read_text(encoding="utf-8"))
    folder = examples_folder()
    return [{"text": example["text"], "files": [str(folder / name) for name in example.get("files", [])]}
            for example in examples if with_images or not example.get("files")]
