"""Jinja chat templates that render exactly what engine/formats.py renders, for servers that
apply a template themselves (vLLM's `--chat-template`): `vicuna` (BiMediX), `llama3_llava`
(BiMediX2, image placeholders included) and `transcript` (the offline preview). Pinned
equal to the engine's formats by tests/engine/test_chat_templates.py."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
NAMES = ("vicuna", "llama3_llava", "transcript")


def template_path(format_name: str) -> Path:
    if format_name not in NAMES:
        raise ValueError(f"no chat template for {format_name!r}; there are: {', '.join(NAMES)}")
    return FOLDER / f"{format_name}.jinja"


def template_text(format_name: str) -> str:
    return template_path(format_name).read_text(encoding="utf-8")
