"""Token ids and loss labels: the loss falls on every assistant turn and nothing else.

Labels come from the engine itself: the sample's structured messages are rendered by the
same prompt format the engine serves with, and `engine.encoding.encode_prompt` says for
every token whose words it is. A token is trained exactly when its role is "assistant":
the reply text and the format's end-of-turn (`</s>`, `<|eot_id|>`, ...), which the formats
give the assistant role so that the model learns to stop. System, user and template
tokens get -100. Nothing here searches token ids for template strings, so a reply that
happens to contain "ASSISTANT:" or "<|eot_id|>" is still just reply text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

from datasets import Dataset, Features, List, Value

from engine.encoding import encode_prompt
from engine.formats import RoleSeparatedFormat
from engine.messages import Message

log = logging.getLogger(__name__)

IGNORE_INDEX = -100  # what transformers' loss functions skip

EXAMPLE_FEATURES = Features({
    "input_ids": List(Value("int32")),
    "labels": List(Value("int32")),
    "images": List(Value("string")),
    "skipped": Value("string"),
    "source": Value("string"),
    "index": Value("int64"),
    "length": Value("int32"),  # for Trainer's group_by_length sampling (its `length_column_name`)
})


@dataclass(frozen=True)
class ImageTokens:
    """How a Llava model reads images: one placeholder id, expanded to `per_image` copies."""

    token_id: int
    per_image: int


@dataclass(frozen=True)
class TrainingExample:
    input_ids: list[int]
    labels: list[int]
    images: list[str]
    skipped: str = ""  # why this sample cannot be trained on, else empty


@dataclass(frozen=True)
class SkipReport:
    count: int
    samples: list[tuple[str, int, str]] = field(default_factory=list)  # (source, index, reason)

    def __str__(self) -> str:
        listed = "; ".join(f"{source} sample {index} ({reason})" for source, index, reason in self.samples[:20])
        more = f"; ... {self.count - 20} more" if self.count > 20 else ""
        return f"skipped {self.count} sample(s): {listed}{more}" if self.count else "skipped no samples"


def to_messages(rows: Sequence[dict]) -> list[Message]:
    return [Message(row["role"], row["content"], tuple(row.get("images") or ())) for row in rows]


def labels_from_roles(input_ids: Sequence[int], roles: Sequence[str]) -> list[int]:
    return [token if role == "assistant" else IGNORE_INDEX for token, role in zip(input_ids, roles)]


def expand_images(input_ids: list[int], roles: list[str], image: ImageTokens) -> tuple[list[int], list[str]]:
    """Each image placeholder becomes `per_image` image tokens, as engine.vision expands them."""
    ids, expanded_roles = [], []
    for token, role in zip(input_ids, roles):
        copies = image.per_image if token == image.token_id else 1
        ids.extend([token] * copies)
        expanded_roles.extend([role] * copies)
    return ids, expanded_roles


def encode_example(tokenizer, prompt_format: RoleSeparatedFormat, messages: Sequence[Message], max_length: int,
                   image: ImageTokens | None = None, system_prompt: str | None = None,
                   require_images: bool = False) -> TrainingExample:
    """Input ids and labels of one conversation, truncated to `max_length` tokens."""
    images = [str(path) for message in messages for path in message.images]
    if require_images and not images:
        # Training only the projector, a text-only sample has no gradient to give.
        return TrainingExample([], [], images, "no image (data.require_images)")
    rendered = prompt_format.render(messages, system_prompt)
    encoded = encode_prompt(tokenizer, rendered)
    ids, roles = list(encoded.input_ids), list(encoded.roles)
    if image is not None:
        placeholders = ids.count(image.token_id)
        if placeholders != len(images):
            return TrainingExample([], [], images, f"{len(images)} image(s) but {placeholders} image token(s) "
                                   "in the prompt (does the prompt format place images?)")
        ids, roles = expand_images(ids, roles, image)
    labels = labels_from_roles(ids, roles)
    if len(ids) > max_length:
        if image is not None and image.token_id in ids[max_length:]:
            return TrainingExample([], [], images, f"truncation to {max_length} tokens would cut an image")
        ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        return TrainingExample([], [], images, f"no assistant tokens left within {max_length} tokens")
    return TrainingExample(ids, labels, images)


def _encode_batch(rows: dict, *, tokenizer, prompt_format, max_length, image, system_prompt,
                  require_images) -> dict:
    out = {name: [] for name in EXAMPLE_FEATURES}
    for messages, source, index in zip(rows["messages"], rows["source"], rows["index"]):
        example = encode_example(tokenizer, prompt_format, to_messages(messages), max_length, image,
                                 system_prompt, require_images)
        for name, value in (("input_ids", example.input_ids), ("labels", example.labels),
                            ("images", example.images), ("skipped", example.skipped),
                            ("source", source), ("index", index), ("length", len(example.input_ids))):
            out[name].append(value)
    return out


def encode_dataset(dataset: Dataset, tokenizer, prompt_format: RoleSeparatedFormat, max_length: int,
                   image: ImageTokens | None = None, system_prompt: str | None = None,
                   num_proc: int | None = None, require_images: bool = False) -> tuple[Dataset, SkipReport]:
    """Tokenize every sample; samples with nothing left to learn are reported and dropped."""
    encoded = dataset.map(
        _encode_batch, batched=True, remove_columns=dataset.column_names, features=EXAMPLE_FEATURES,
        num_proc=num_proc, desc="tokenizing",
        fn_kwargs={"tokenizer": tokenizer, "prompt_format": prompt_format, "max_length": max_length,
                   "image": image, "system_prompt": system_prompt, "require_images": require_images})
    skipped_rows = encoded.filter(lambda reason: bool(reason), input_columns="skipped", num_proc=num_proc)
    report = SkipReport(len(skipped_rows), [(r["source"], r["index"], r["skipped"])
                                            for r in skipped_rows.select_columns(["source", "index", "skipped"])])
    if report.count:
        log.warning("%s", report)
    kept = encoded.filter(lambda reason: not reason, input_columns="skipped", num_proc=num_proc)
    return kept.select_columns(["input_ids", "labels", "images", "length"]), report
