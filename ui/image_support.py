"""What the chat screen says and offers about images, per model: which models read them
(marked in the model selector), which examples are offered (those with an image only to a
model that reads images), and when "Send without the image" shows.

The engine refuses a new image for a model that cannot see images (engine/prompt_input.py,
issue 27): a small model told of an image it never got still described one. The screen
follows that rule instead of offering what would be refused.
"""

from __future__ import annotations

import gradio as gr

from engine.pool import ModelPool
from engine.prompt_input import reads_images
from ui.common import split_message
from ui.strings import text


def model_reads_images(pool: ModelPool, name: str) -> bool:
    """Whether the pool's model `name` reads images, known without loading it: a loaded
    model says so itself (its prompt format may take none), else its card, or for a remote
    model its endpoint's setting (a server asked only once it is connected)."""
    if pool.is_loaded(name):
        return reads_images(pool.get(name))
    endpoint = pool.endpoints.get(name)
    if endpoint is not None:
        return bool(endpoint.multimodal)
    card = pool.cards.get(name)
    return bool(card and card.multimodal)


def model_choices(pool: ModelPool, lang: str) -> list[tuple[str, str]]:
    """The model selector's choices (public names as values: a local path stays on the
    server), each model that reads images marked so in `lang`."""
    def label(name: str) -> str:
        title = pool.title(name)
        return f"{title} · {text('reads_images', lang)}" if model_reads_images(pool, name) else title
    return [(label(name), pool.public_name(name)) for name in pool.names()]


def has_files(message) -> bool:
    return bool(split_message(message)[1])


def image_controls(model_reads: bool, message) -> tuple:
    """Updates of (examples with images, examples without, "Send without the image"):
    one examples set shows, and the button only while the box holds a file the model
    cannot see."""
    return (gr.update(visible=model_reads), gr.update(visible=not model_reads),
            gr.update(visible=not model_reads and has_files(message)))
