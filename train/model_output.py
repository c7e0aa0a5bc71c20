"""Reading what a model was asked to answer as JSON: the pipeline's translations and
scores, and the synthesized dialogues. Models wrap JSON in code fences or in prose."""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def first_json_object(text: str) -> dict | None:
    """The first JSON object in the text: fenced blocks first, then from each '{' on."""
    candidates = [block.strip() for block in _FENCE.findall(text)] + [text.strip()]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in (i for i, char in enumerate(candidate) if char == "{"):
            try:
                data, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return data
    return None
