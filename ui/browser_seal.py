"""Sealing what a browser keeps, so that only the server can open it, and only for the
browser that kept it.

Gradio's BrowserState encrypts with a secret it sends to every page in `/config`: whoever
reads the browser's storage can also read that page, so that layer hides nothing (issue 26,
item 8). What we hand it is therefore already sealed here: AES-256-GCM (authenticated: a
changed value does not open) under a key derived with HKDF-SHA256 from

- the server's secret ($BIMEDIX_BROWSER_SECRET, else a random one per process: a restart then
  forgets every kept conversation), which never leaves the server, and
- the browser's id, the HttpOnly cookie `bimedix_browser` (ui/sessions.py), which page
  scripts cannot read.

So the stored value plus everything public opens nothing; a value copied into another
browser (another cookie) does not open there; and knowing the server's secret alone is not
enough either. What it does not protect against is said in docs/chatting.md ("Keep my conversation").
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_ENV = "BIMEDIX_BROWSER_SECRET"
# Names what the key is for, so it can never open anything sealed for another purpose.
PURPOSE = b"bimedix-chat/kept-conversation/v1"
NONCE_BYTES = 12  # AES-GCM's standard nonce, random per seal
_PROCESS_SECRET = secrets.token_bytes(32)  # without $BIMEDIX_BROWSER_SECRET: this process only


def server_secret() -> bytes:
    configured = os.environ.get(SECRET_ENV)
    return configured.encode("utf-8") if configured else _PROCESS_SECRET


def browser_key(browser: str, secret: bytes | None = None) -> bytes:
    """This browser's key: the server's secret is the key material, the browser id the context."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE + b"\0" + browser.encode("utf-8"))
    return hkdf.derive(secret if secret is not None else server_secret())


def seal(data: bytes, browser: str, secret: bytes | None = None) -> str:
    """`data` encrypted and authenticated for `browser`, as URL-safe text."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(browser_key(browser, secret)).encrypt(nonce, data, PURPOSE)
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(token: object, browser: str, secret: bytes | None = None, max_chars: int | None = None) -> bytes | None:
    """What `seal` sealed for this browser with this server's secret; None for anything else
    (another browser's, another server's, changed, truncated, not ours, or over `max_chars`,
    refused before any decoding)."""
    if not isinstance(token, str) or (max_chars is not None and len(token) > max_chars):
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) <= NONCE_BYTES:
        return None
    try:
        return AESGCM(browser_key(browser, secret)).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], PURPOSE)
    except InvalidTag:
        return None
