"""Keeping a conversation across reloads, in the person's own browser, only if they ask.

Off by default: on a shared clinical workstation the next person must not find the last
one's chat (see the privacy notes in README). With "keep my conversation in this browser"
ticked, the conversation's text (not its images) is kept in the browser's localStorage
through Gradio's BrowserState, which encrypts it with the app's secret
($BIMEDIX_BROWSER_SECRET, else a random one per start: a restart then forgets it too).
"Forget" deletes it at once. Nothing of it is kept on the server.
"""

from __future__ import annotations

import os

from engine.messages import Message
from ui.conversation import Conversation

STORAGE_KEY = "bimedix-chat-conversation"
SECRET_ENV = "BIMEDIX_BROWSER_SECRET"
MAX_KEPT_MESSAGES = 200  # localStorage holds a few MB; a longer chat keeps its newest turns


def browser_secret() -> str | None:
    return os.environ.get(SECRET_ENV) or None


FORGOTTEN = {"keep": False}  # written over what was kept (Gradio leaves storage as it is for None)


def kept_value(keep: bool, conversation: Conversation | None) -> dict:
    """What the browser keeps: nothing of the chat unless `keep`; then the messages' text."""
    if not keep:
        return dict(FORGOTTEN)
    messages = conversation.messages if conversation is not None else []
    kept = [{"role": m.role, "content": m.content} for m in messages if m.role in ("user", "assistant")]
    kept = kept[-MAX_KEPT_MESSAGES:]
    if kept and kept[0]["role"] == "assistant":  # whole exchanges only
        kept = kept[1:]
    return {"keep": True, "messages": kept}


def restored(value, conversation: Conversation) -> bool:
    """Put a kept conversation back into a fresh `conversation`; whether there was one."""
    if not isinstance(value, dict) or not value.get("keep"):
        return False
    messages = [Message(item["role"], str(item["content"])) for item in value.get("messages") or []
                if isinstance(item, dict) and item.get("role") in ("user", "assistant")]
    conversation.restore(messages)
    return True
