"""One browser session's conversation: its history (an engine ChatSession, which calls
the stateless `engine.reply`) plus what only the screen needs.

The history holds what the model reads (a text-only model never keeps an image; a vision
model keeps decoded pixels). The screen also shows each turn's files as they were
uploaded, and the exchange that is still being generated; both live here. One
Conversation per browser session (gr.State), so no one sees another person's chat, and
every reply is asked for with this session's own options, adapter included.

Uploads are shown through a PNG preview written beside them from what the engine's image
intake decoded, so the person sees what the model sees (DICOM and TIFF included), and the
original can be deleted once every side has read it (`delete_originals`): a DICOM's header
holds patient tags, and a photo's EXIF a place and a time.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from engine.backend import TokenBackend, local_tokens
from engine.errors import UserFacingError
from engine.images import MedicalImage, load_image
from engine.loading import LoadedModel
from engine.messages import Message
from engine.reply import Reply, ReplyOptions
from engine.session import ChatSession
from ui.temp_folder import PREVIEW_SUFFIX

# What browsers display in an <img>; anything else is shown through a PNG preview.
BROWSER_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif"}


@dataclass(frozen=True)
class TurnInfo:
    """What a finished message carries besides its text: when, and for a reply, what wrote
    it and how it ended (shown on the message and kept in exports)."""

    at: datetime  # UTC
    model: str | None = None  # the model's title (replies)
    adapter: str | None = None  # None: the bare base model
    language: str | None = None  # the reply language asked for
    finish_reason: str | None = None  # engine.generation's: done, stop_string, length, stopped, failed
    settings: dict | None = None  # the generation settings of this reply


@dataclass
class PendingExchange:
    text: str
    files: tuple[str, ...]
    # None: shown before intake has read its files (ui/handlers.py); `files` are then the
    # uploads as sent, of which only the names are shown.
    reply: Reply | None
    options: ReplyOptions | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    waiting: int | None = None  # its place in the model's queue while it waits (1: next)


class Conversation:
    def __init__(self, loaded: LoadedModel, backend: TokenBackend = local_tokens):
        self.session = ChatSession(loaded, backend=backend)
        self.options = self.session.options  # the options of the latest reply (export names its adapter)
        self.attachments: list[tuple[str, ...]] = []  # uploaded files, one entry per finished user turn
        self.pending: PendingExchange | None = None
        self.export_urls: list[str] = []  # its one-time downloads (ui/downloads.py) not yet fetched
        self.info: dict[int, TurnInfo] = {}  # message index -> what it carries (TurnInfo)
        # The interface language chosen last (ui/chat.py sets it on a switch): a reply being
        # written renders its notes in it, not in the language it was asked in.
        self.ui_lang: str | None = None
        # Stop pressed while this session's message still waited in the queue: it must not
        # start. Each new request clears it first (`expect_reply`), so a late Stop pressed
        # after a reply had ended cannot swallow the next message.
        self.stop_requested = False

    @property
    def loaded(self) -> LoadedModel:
        return self.session.model

    @property
    def messages(self) -> list[Message]:
        """The finished messages (read only: the session files them)."""
        return self.session.messages

    def send(self, text: str, files: Sequence[str], options: ReplyOptions, sent_at: datetime | None = None) -> Reply:
        """Start a reply; raises UserFacingError (bad file, empty message) with nothing changed.
        `sent_at`: when the message was shown as sent (default now)."""
        images = self._read_images(files)
        reply = self.session.send(text or "", images, options)
        shown = tuple(_shown_file(path, image) for path, image in zip(files, images))
        self._started(PendingExchange((text or "").strip(), shown, reply,
                                      sent_at=sent_at or datetime.now(timezone.utc)), options)
        return reply

    def regenerate(self, options: ReplyOptions) -> Reply:
        """Answer the last user message again; its files go with it."""
        index = len(self.messages) - 2
        last = self.messages[index] if index >= 0 else None
        reply = self.session.regenerate(options)  # raises before anything changes
        files = self.attachments.pop() if self.attachments else ()
        sent_at = self.info[index].at if index in self.info else datetime.now(timezone.utc)
        self._started(PendingExchange(last.content, files, reply, sent_at=sent_at), options)
        return reply

    def checkpoint(self) -> tuple[int, int]:
        """Where the conversation stands; `rollback` returns to it."""
        return len(self.messages), len(self.attachments)

    def rollback(self, checkpoint: tuple[int, int]) -> None:
        """Forget what came after `checkpoint` (the arena: the other side refused the
        message). A reply that never started left nothing to forget."""
        if self.pending is not None:
            raise UserFacingError("generation_in_progress")
        messages, attachments = checkpoint
        self.session.rollback(messages)
        del self.attachments[attachments:]
        self.info = {index: info for index, info in self.info.items() if index < messages}

    def restore(self, messages: Sequence[Message], info: Sequence[TurnInfo | None] = ()) -> None:
        """Start from messages kept in the browser (their images were not kept); `info`:
        what each carried (time, what wrote a reply), None where nothing came back."""
        if self.pending is not None:
            raise UserFacingError("generation_in_progress")
        self.session.release()
        self.session = ChatSession(self.loaded, backend=self.session.backend, messages=messages)
        self.attachments = [() for message in messages if message.role == "user"]
        self.info = {index: note for index, note in enumerate(info) if note is not None}

    def switch_model(self, loaded: LoadedModel) -> None:
        """Go on with another model: the conversation so far is kept (a text-only model
        reads its text; images already sent stay on screen)."""
        if self.pending is not None:
            raise UserFacingError("generation_in_progress")
        self.session.release()  # the new model cannot use the old one's cache
        self.session = ChatSession(loaded, backend=self.session.backend, messages=self.messages)

    def finish(self, reply: Reply | None = None) -> None:
        """The reply ended (done, stopped, failed): file its turn's uploads with it. Only
        the reply it was started for (`reply`, default the pending one) is finished."""
        if self.pending is None or (reply is not None and reply is not self.pending.reply):
            return
        self.pending.reply.close()
        users = sum(1 for message in self.messages if message.role == "user")
        if users > len(self.attachments):  # its turn was filed (not cleared away, not unread)
            self.attachments.append(self.pending.files)
            self._file_info(self.pending)
        self.pending = None

    def _file_info(self, pending: PendingExchange) -> None:
        """The filed exchange's TurnInfo: the last two messages (a regenerated reply takes
        the place of the one it replaces)."""
        reply, options, last = pending.reply, pending.options or self.options, len(self.messages) - 1
        self.info[last - 1] = TurnInfo(pending.sent_at)
        self.info[last] = TurnInfo(datetime.now(timezone.utc), self.loaded.card.title, options.adapter,
                                   reply.language, reply.finish_reason, asdict(options.settings))
    def clear(self) -> None:
        self.stop()
        self.session.clear()  # a reply still being written is not filed
        self.attachments.clear()
        self.info.clear()

    def expect_reply(self) -> None:
        """A new message or Regenerate was just asked for (before it queues)."""
        self.stop_requested = False

    def stop(self) -> None:
        """Stop the reply being written, or the one still waiting for its turn."""
        if self.pending is not None:
            self.pending.reply.stop()
        else:
            self.stop_requested = True

    def take_stop_request(self) -> bool:
        """Whether Stop came while the request waited (and forget it)."""
        requested, self.stop_requested = self.stop_requested, False
        return requested

    def discard(self) -> None:
        """The browser session ended: stop generating and free its KV cache (its exports
        are the caller's: see ChatHandlers.discard)."""
        self.stop()
        self.session.release()

    def _started(self, pending: PendingExchange, options: ReplyOptions) -> None:
        pending.options = options
        self.pending, self.options = pending, options
        # Stop may have read `pending` just before this reply was filed there.
        if self.take_stop_request():
            pending.reply.stop()

    def _read_images(self, files: Sequence[str]) -> list:
        """Every upload goes through intake, whatever the model (type, size, pixel count,
        decoding): decoded once here, for the model and for the previews. A text-only model
        then leaves them out and says so. UserFacingError names the bad file."""
        return [load_image(path) for path in files]


def _needs_preview(path: str) -> bool:
    return Path(path).suffix.lower() not in BROWSER_IMAGE_SUFFIXES


def _in_upload_cache(path: str) -> bool:
    from gradio.utils import get_upload_folder

    return Path(path).resolve().is_relative_to(Path(get_upload_folder()).resolve())


def _shown_file(path: str, image) -> str:
    """The file to show in the conversation: a PNG preview written beside an upload (inside
    Gradio's upload cache), or, for a file of the app's own that a browser can show (an
    example), the file itself."""
    if not isinstance(image, MedicalImage) or path.endswith(PREVIEW_SUFFIX) or (
            not _needs_preview(path) and not _in_upload_cache(path)):
        return path
    preview = Path(path).with_name(Path(path).name + PREVIEW_SUFFIX)
    if not preview.exists():
        image.image.save(preview, format="PNG")
    return str(preview)


def delete_originals(files: Sequence[str]) -> None:
    """Once intake has read them (for every side), uploads leave the server: the
    conversation shows their previews."""
    for path in files:
        if not path.endswith(PREVIEW_SUFFIX) and _in_upload_cache(path):
            Path(path).unlink(missing_ok=True)


def keep_for_a_fix(files: Sequence[str]) -> list[str]:
    """A message that was not sent goes back to its box; its uploads do not stay on the
    server as they came (a DICOM holds patient tags). Each upload intake can read is
    replaced by its preview (decoded pixels, no metadata), which the person can send as it
    is; one it cannot read is deleted (its message already named it). Returns the files the
    box keeps."""
    kept = []
    for path in files:
        if path.endswith(PREVIEW_SUFFIX) or not _in_upload_cache(path):
            kept.append(path)
            continue
        try:
            kept.append(_shown_file(path, load_image(path)))
        except (UserFacingError, OSError):
            pass
        Path(path).unlink(missing_ok=True)
    return [path for path in kept if os.path.exists(path)]


def delete_unsent(files: Sequence[str]) -> None:
    """A box's files that will not be sent ("Send without the image"): each upload or
    preview leaves the server now (the app's own examples stay)."""
    for path in files:
        if _in_upload_cache(path):
            Path(path).unlink(missing_ok=True)


def delete_previews(conversation: "Conversation") -> None:
    """The conversation is gone (its tab closed, or it was cleared): so are its previews."""
    for files in conversation.attachments:
        for path in files:
            if path.endswith(PREVIEW_SUFFIX) and _in_upload_cache(path):
                Path(path).unlink(missing_ok=True)
