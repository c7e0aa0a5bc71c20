"""What a model reads of a conversation, and what is refused before anything is generated:
the checks on the newest message (an image for a model that cannot see images among them),
the adapter asked for, the system prompt, images (or, in older turns, the note a text-only
model reads in their place). Shared by local replies (engine/reply.py) and
remote ones (engine/remote.py)."""

from __future__ import annotations

from dataclasses import replace
from itertools import takewhile
from typing import Sequence

from engine.endpoints import RemoteModel
from engine.errors import InvalidSetting, UserFacingError
from engine.images import is_decoded
from engine.language import detect_language
from engine.loading import LoadedModel
from engine.messages import Message, has_lone_surrogates, without_bidi_controls
from engine.reply_stream import ReplyOptions

MAX_MESSAGE_CHARS = 20_000  # far beyond any question; stops a pasted book before tokenizing
# Characters do not bound tokens (an emoji can be 4): 20,000 of them once made 80,000 tokens
# and 44 s of prefill on a long-context model, holding the model from everyone else.
MAX_MESSAGE_TOKENS = 8_192
MAX_TOKENS_PER_CHAR = 4  # byte-level tokenizers: at most one token per UTF-8 byte
# The whole conversation, bounded before any tokenizer work: each message within its limits,
# 999 turns of them (19 MB) once took 333 s to count and 551 s to answer in one token.
# Fitting renders and encodes the conversation a few times over: these keep that to seconds.
MAX_CONVERSATION_MESSAGES = 500  # 250 exchanges
MAX_CONVERSATION_CHARS = 200_000  # ten messages at their limit
MAX_CONVERSATION_TOKENS = 131_072  # the longest context a card here reads (Llama 3.1)

# What a text-only model reads in place of the images of OLDER turns (sent to a vision model
# before a mid-chat switch), in the turn's language. Not relied on for the newest message:
# a small model told of an image still described one, so that message is refused instead
# (check_images_readable). The older turns' text stays meaningful without its images, and
# refusing them would end every conversation that ever held an image.
IMAGE_NOTES = {  # (one image, several)
    "ar": ("[أُرفقت صورة بهذه الرسالة، لكن هذا النموذج لا يستطيع رؤية الصور.]",
           "[أُرفقت صور ({count}) بهذه الرسالة، لكن هذا النموذج لا يستطيع رؤية الصور.]"),
    "en": ("[An image was attached to this message, but this model cannot see images.]",
           "[{count} images were attached to this message, but this model cannot see images.]"),
}


def reads_images(model: LoadedModel | RemoteModel) -> bool:
    if isinstance(model, RemoteModel):
        return model.reads_images
    return model.vision is not None and model.prompt_format.supports_images


def check_images_readable(model: LoadedModel | RemoteModel, images: Sequence) -> None:
    """A new message's images for a model that cannot see them: refused before anything
    (intake included), so that no caller gets a reply that pretends to have seen them."""
    if images and not reads_images(model):
        raise UserFacingError("model_cannot_read_images")


def asks_for_language(model: LoadedModel, options: ReplyOptions) -> bool:
    """Whether the prompt tells the model the reply language: models not tuned to mirror
    the user's language (the card's `language_hint`), and any model when it is forced."""
    return model.card.language_hint or options.reply_language != "auto"


def newest_user_message(model: LoadedModel, messages: Sequence[Message]) -> Message:
    if not messages or messages[-1].role != "user":
        raise ValueError("the newest message must be the user's")
    check_conversation(model, messages)  # first: it keeps every later step's work bounded
    newest = messages[-1]
    check_images_readable(model, newest.images)
    if has_lone_surrogates(newest.content):
        raise UserFacingError("invalid_text")
    if _is_blank(newest.content) and not newest.images:
        raise UserFacingError("empty_message")
    check_message_size(model.tokenizer, newest.content)
    return newest


def intake_notes(messages: Sequence[Message]) -> tuple:
    """What intake said of the newest message's images for the person (engine.images
    IntakeNote: a DICOM series of which the model sees one frame), for Reply.notices."""
    return tuple(note for image in messages[-1].images for note in getattr(image, "notes", ()))


def check_message_size(tokenizer, text: str) -> None:
    """A typed message's limits: characters, then (only where they could make that many)
    tokens. Short text cannot be too many; without a local tokenizer, the server judges."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise UserFacingError("message_too_long", size=len(text), limit=MAX_MESSAGE_CHARS)
    if len(text) * MAX_TOKENS_PER_CHAR > MAX_MESSAGE_TOKENS and tokenizer is not None:
        tokens = len(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])
        if tokens > MAX_MESSAGE_TOKENS:
            raise UserFacingError("message_too_many_tokens", tokens=tokens, limit=MAX_MESSAGE_TOKENS)


def check_conversation(model: LoadedModel | RemoteModel, messages: Sequence[Message]) -> None:
    """The whole conversation's bounds: messages, then characters, then (only where the
    characters could make that many) tokens, counted once as plain text."""
    if len(messages) > MAX_CONVERSATION_MESSAGES:
        raise UserFacingError("conversation_too_many_messages", count=len(messages), limit=MAX_CONVERSATION_MESSAGES)
    size = sum(len(m.content) for m in messages)
    if size > MAX_CONVERSATION_CHARS:
        raise UserFacingError("conversation_too_long", size=size, limit=MAX_CONVERSATION_CHARS)
    if size * MAX_TOKENS_PER_CHAR > MAX_CONVERSATION_TOKENS and model.tokenizer is not None:
        encoded = model.tokenizer([m.content for m in messages], add_special_tokens=False, split_special_tokens=True)
        tokens = sum(len(ids) for ids in encoded["input_ids"])
        if tokens > MAX_CONVERSATION_TOKENS:
            raise UserFacingError("conversation_too_many_tokens", tokens=tokens, limit=MAX_CONVERSATION_TOKENS)


def newest_within_bounds(messages: Sequence[Message]) -> list[Message]:
    """A held conversation (the app's, `engine chat`'s) as a reply may take it: its system
    messages and its newest whole exchanges within the message and character bounds. A
    person who chats past them goes on, as history fitting goes on past the context; a
    request that arrives over them (the API) is refused by check_conversation instead."""
    head = list(takewhile(lambda m: m.role == "system", messages))
    turns, size = list(messages[len(head):]), sum(len(m.content) for m in messages)
    while turns and (len(head) + len(turns) > MAX_CONVERSATION_MESSAGES or size > MAX_CONVERSATION_CHARS):
        dropped = turns.pop(0)
        size -= len(dropped.content)
        if turns and turns[0].role == "assistant":  # whole exchanges: its reply goes too
            size -= len(turns.pop(0).content)
    return [*head, *turns]


def prompt_budget(model: LoadedModel | RemoteModel, options: ReplyOptions) -> int:
    """The prompt's share of the context: the context less the reply's. A reply length that
    leaves none is the setting's fault, and said so (never as a negative budget)."""
    asked = options.settings.max_new_tokens
    if asked >= model.context_window:
        raise InvalidSetting("reply_longer_than_context", name="max_new_tokens", tokens=asked,
                             context=model.context_window)
    return model.context_window - asked


def check_adapter(model: LoadedModel, adapter: str | None) -> None:
    names = model.adapters.names()
    if adapter is not None and adapter not in names:
        raise UserFacingError("unknown_adapter", adapter=adapter, model=model.card.title,
                              available=", ".join(names) or "—")


def prompt_messages(model: LoadedModel, messages: Sequence[Message], options: ReplyOptions,
                     language: str) -> list[Message]:
    """The system prompt and the turns as the model takes them: a text-only model gets a
    note in place of an older turn's images (the newest has none: it was refused), a vision
    model only decoded ones. `language`: the reply's."""
    head = list(takewhile(lambda m: m.role == "system", messages))
    turns = [_as_read(model, m, language) for m in messages[len(head):]]
    if head:
        system = "\n\n".join(m.content for m in head)
    elif options.system_prompt is not None:
        system = options.system_prompt
    else:
        system = model.card.system_prompt or model.prompt_format.default_system
    # An empty system prompt is left out rather than rendered as an empty header.
    return ([Message("system", system)] if system else []) + turns


def _as_read(model: LoadedModel, message: Message, language: str) -> Message:
    message = replace(message, content=without_bidi_controls(message.content))
    if not message.images:
        return message
    if not reads_images(model):
        # Only an older turn's images get here (see IMAGE_NOTES). Said in the turn's own language (a turn with none: the reply's), before its text,
        # where a vision format puts the image.
        turn_language = detect_language(message.content, previous=language).language
        one, several = IMAGE_NOTES[turn_language]
        note = one if len(message.images) == 1 else several.format(count=len(message.images))
        text = message.content.strip()
        return Message(message.role, f"{note}\n{text}" if text else note)
    for image in message.images:
        if not is_decoded(image):
            raise TypeError(f"images reach the engine decoded (engine.images.load_image at intake), "
                            f"not as {type(image).__name__}")
    return message


def _is_blank(text: str) -> bool:
    """Nothing visible: only spaces and invisible format characters (bidi controls, marks)."""
    return not any(ch.isprintable() and not ch.isspace() for ch in text)
