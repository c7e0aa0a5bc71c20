"""BiMediX Chat: parse options, build the engine, launch the UI (Hugging Face Spaces runs this).

Model choice: --model, else the BIMEDIX_MODEL environment variable, else the offline
preview. A card that needs a GPU, or whose weights cannot be reached, falls back to the
preview model with a visible notice instead of failing to start.
"""

from __future__ import annotations

import argparse
import logging
import os

from engine.cards import resolve_card
from engine.loading import LoadedModel, load_model

log = logging.getLogger("bimedix.app")


def load_with_fallback(model: str, adapters: list[str], load_in_4bit: bool | None) -> tuple[LoadedModel, str]:
    import torch

    card = resolve_card(model)
    if card.family in ("mixtral", "llava") and not card.is_local and not torch.cuda.is_available():
        reason = f"{card.title} needs a GPU; none was found, so the offline preview model is running."
        log.warning(reason)
        return load_model("preview"), reason
    try:
        return load_model(card, adapters, load_in_4bit), ""
    except Exception as error:  # no network, no weights, not enough memory ...
        if card.family == "preview":
            raise
        reason = f"{card.title} could not be loaded ({type(error).__name__}: {error}); running the offline preview model."
        log.warning(reason)
        return load_model("preview"), reason


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("BIMEDIX_MODEL", "preview"),
                        help="model card name or local checkpoint directory (env BIMEDIX_MODEL)")
    parser.add_argument("--adapter", action="append", default=[], help="PEFT adapter directory (repeatable)")
    parser.add_argument("--load-in-4bit", action="store_true", default=None, help="quantize to 4-bit nf4")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--max-concurrency", type=int, default=1,
                        help="replies generated at once on the loaded model (default 1; keep 1 with "
                             "several adapters: each reply switches the shared model to its session's adapter)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from ui.assets import launch_options
    from ui.chat import build_chat_app

    loaded, fallback_reason = load_with_fallback(args.model, args.adapter, args.load_in_4bit)
    demo = build_chat_app(loaded, fallback_reason, max_concurrency=args.max_concurrency)
    # Replies are limited per model by their own concurrency group; this covers the light
    # events (relabelling, export, clear).
    demo.queue(default_concurrency_limit=8)
    demo.launch(server_name=args.host, server_port=args.port, **launch_options())


if __name__ == "__main__":
    main()
