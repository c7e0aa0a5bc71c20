"""One-time downloads: a file served once, to the browser that asked for it, then deleted.

Exports hold conversations (patient data), so a Gradio file component is not enough: its
URL shows the server's temp path, anyone holding the session hash could ask for a new
export, and the file stays downloadable for an hour. Here each file gets a random token;
`bimedix/download/<token>/<name>` serves it only to the browser (the `bimedix_browser`
cookie, ui/sessions.py) that made it, once, and deletes it; what nobody fetches is deleted
after `max_age_s`.
"""

from __future__ import annotations

import html
import mimetypes
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

ROUTE = "bimedix/download"
_PATH = re.compile(r"/bimedix/download/([A-Za-z0-9_-]{20,64})/[^/]+$")
MAX_AGE_S = 3600


@dataclass(frozen=True)
class Offer:
    token: str
    name: str
    owner: str | None
    path: Path
    created: float


class Downloads:
    """Thread-safe: handlers offer files, the HTTP layer takes them."""

    def __init__(self, root: Path | None = None, max_age_s: float = MAX_AGE_S, clock=time.monotonic):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="bimedix-downloads-"))
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_age_s, self.clock = max_age_s, clock
        self._offers: dict[str, Offer] = {}
        self._lock = threading.Lock()

    def offer(self, owner: str | None, name: str, data: bytes) -> str:
        """Hold `data` for `owner`'s browser; returns its URL, relative to the page (so the
        app also works behind a proxy path)."""
        self.prune()
        token = secrets.token_urlsafe(24)
        folder = self.root / token
        folder.mkdir(mode=0o700)
        path = folder / Path(name).name
        path.write_bytes(data)
        with self._lock:
            self._offers[token] = Offer(token, path.name, owner, path, self.clock())
        return f"{ROUTE}/{token}/{quote(path.name)}"

    def take(self, token: str, owner: str | None) -> tuple[str, bytes] | None:
        """The file for its own browser, once (then deleted); None for anyone else, a
        second time, or after it expired. A stranger's try does not use it up."""
        with self._lock:
            offer = self._offers.get(token)
            if offer is None or offer.owner != owner or self._expired(offer):
                return None
            del self._offers[token]
        try:
            return offer.name, offer.path.read_bytes()
        finally:
            shutil.rmtree(offer.path.parent, ignore_errors=True)

    def forget(self, urls: list[str]) -> None:
        """Delete offers before they are fetched (the tab closed, the chat was cleared)."""
        for url in urls:
            token = url.split("/")[-2] if url.count("/") >= 2 else ""
            with self._lock:
                offer = self._offers.pop(token, None)
            if offer is not None:
                shutil.rmtree(offer.path.parent, ignore_errors=True)

    def prune(self) -> None:
        with self._lock:
            expired = [offer for offer in self._offers.values() if self._expired(offer)]
            for offer in expired:
                del self._offers[offer.token]
        for offer in expired:
            shutil.rmtree(offer.path.parent, ignore_errors=True)

    def _expired(self, offer: Offer) -> bool:
        return self.clock() - offer.created > self.max_age_s

    @staticmethod
    def token_in(path: str) -> str | None:
        """The token when `path` is a download route (also under a proxy prefix)."""
        match = _PATH.search(path)
        return match.group(1) if match else None


def content_type(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return guessed + ("; charset=utf-8" if guessed.startswith("text/") or name.endswith((".jsonl", ".json")) else "")


def links_html(urls: list[str], note: str) -> str:
    """The download links as shown on the page: names only, never a server path."""
    items = "".join(f'<li><a href="{html.escape(url)}" download>{html.escape(unquote(url.rsplit("/", 1)[-1]))}</a></li>'
                    for url in urls)
    return f'<div class="bmx-downloads"><ul>{items}</ul><p>{html.escape(note)}</p></div>'
