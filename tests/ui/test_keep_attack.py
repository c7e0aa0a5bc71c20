"""Issue 26, items 8 and 9: "Keep my conversation in this browser", attacked through the
real app (tests/ui/conftest.py starts it on 127.0.0.1).

8. Whoever reads the browser's storage and the public page (/config) must not read the
   kept chat, and a value kept by one browser must not come back in another.
9. What a script hands the restore event (it runs at every page load, with whatever the
   page's storage holds) passes the limits typed messages pass: a forged 10 MB history
   must not be restored, nor slow the next reply.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

import httpx

from tests.ui.browser import USER_MESSAGES, open_app, send, set_number

MARKER = "KEEPME-777 patient Anna Example"
STORAGE_KEY = "bimedix-chat-conversation"  # ui/browser_memory.py (the page's localStorage key)


def browser_state_of(config: dict) -> dict:
    """The BrowserState component's public props, as every visitor gets them from /config."""
    found = [c["props"] for c in config["components"] if c.get("type") == "browserstate"]
    assert len(found) == 1, found
    return found[0]


def open_as_gradio_page_does(stored: str, secret: str) -> str:
    """Decrypt a BrowserState value exactly as Gradio's page script does (CryptoJS AES with
    the passphrase sha256(secret), OpenSSL's salted format), knowing only public things."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    passphrase = hashlib.sha256(secret.encode()).hexdigest().encode()
    _, body = stored.split(":", 1)
    raw = base64.b64decode(body)
    assert raw[:8] == b"Salted__"
    salt, ciphertext = raw[8:16], raw[16:]
    derived, block = b"", b""
    while len(derived) < 48:  # OpenSSL's EVP_BytesToKey with MD5, as CryptoJS does
        block = hashlib.md5(block + passphrase + salt).digest()
        derived += block
    decryptor = Cipher(algorithms.AES(derived[:32]), modes.CBC(derived[32:48])).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def kept_in(page) -> str:
    page.wait_for_function(f"() => !!localStorage.getItem('{STORAGE_KEY}')")
    return page.evaluate(f"() => localStorage.getItem('{STORAGE_KEY}')")


def keep_a_conversation(page, url: str) -> str:
    """Tick "keep", send the marker, and return what the browser then keeps."""
    open_app(page, url)
    page.locator("#bmx-keep input").check()
    set_number(page, "bmx-max-new-tokens", 4)
    send(page, MARKER)
    page.wait_for_function(f"() => (localStorage.getItem('{STORAGE_KEY}') || '').length > 200")
    return kept_in(page)


def test_the_kept_chat_cannot_be_read_with_the_browsers_storage_and_the_public_config(page, llava_app_url):
    stored = keep_a_conversation(page, llava_app_url)
    public = browser_state_of(httpx.get(llava_app_url + "config").json())
    assert public["storage_key"] == STORAGE_KEY
    opened = open_as_gradio_page_does(stored, public["secret"])  # all a page script can do
    assert MARKER not in opened and "Anna" not in opened and "KEEPME" not in opened
    assert MARKER not in json.dumps(public)
    # The person's own browser still gets it back after a reload.
    page.reload()
    page.wait_for_function(f"(document.querySelector('#chatbot') || {{innerText: ''}}).innerText.includes('{MARKER}')")


def test_a_value_kept_by_one_browser_does_not_come_back_in_another(page, second_page, llava_app_url):
    stored = keep_a_conversation(page, llava_app_url)
    open_app(second_page, llava_app_url)  # another person's browser: its own cookie
    second_page.evaluate("([key, value]) => localStorage.setItem(key, value)", [STORAGE_KEY, stored])
    second_page.reload()
    second_page.wait_for_selector("#bmx-send")
    second_page.wait_for_timeout(2000)  # the load event has run
    assert MARKER not in second_page.locator("#chatbot").inner_text()
    assert second_page.locator(USER_MESSAGES).count() == 0
    # The copied value is not kept there either: the next reload finds nothing to restore.
    assert MARKER not in second_page.evaluate("() => JSON.stringify(Object.entries(localStorage))")


class Tab:
    """One browser tab speaking the page's own protocol: its cookie, its session hash, and
    any value for any input of any event (State inputs and BrowserState included)."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=120)
        self.http.get("/")  # the first page load sets the browser's cookie
        self.session_hash = secrets.token_hex(6)
        config = self.http.get("/config").json()
        self.components = {c["id"]: c for c in config["components"]}
        self.dependencies = config["dependencies"]

    def the_restore_event(self) -> dict:
        """The event that restores a kept conversation once the page loads: the one taking
        the BrowserState and showing the chat."""
        kept = next(i for i, c in self.components.items() if c.get("type") == "browserstate")
        chat = next(i for i, c in self.components.items() if c.get("props", {}).get("elem_id") == "chatbot")
        return next(d for d in self.dependencies if kept in d["inputs"] and chat in d["outputs"])

    def the_event(self, api_name: str) -> dict:
        return next(d for d in self.dependencies if d.get("api_name") == api_name)

    def defaults(self, dependency: dict, **values) -> list:
        """What the page sends for `dependency`: each input's shown value, or values[elem_id]."""
        data = []
        for i in dependency["inputs"]:
            props = self.components[i].get("props", {})
            data.append(values.get(props.get("elem_id"), props.get("value")))
        return data

    def run_queued(self, dependency: dict, data: list) -> list:
        joined = self.http.post("/gradio_api/queue/join", json={
            "data": data, "fn_index": dependency["id"], "session_hash": self.session_hash,
            "event_data": None, "trigger_id": None})
        assert joined.status_code == 200, joined.text[:500]
        event = joined.json()["event_id"]
        with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("event_id") == event and message.get("msg") == "process_completed":
                    assert message.get("success"), message
                    return message["output"]["data"]
        raise AssertionError("the event never completed")


def forged_history(turns: int = 200, size: int = 50_000) -> list[dict]:
    return [{"role": ("user", "assistant")[i % 2], "content": f"turn {i} " + "x" * size} for i in range(turns)]


def test_a_forged_ten_megabyte_history_is_not_restored_and_the_next_reply_is_quick(llava_app_url):
    tab = Tab(llava_app_url)
    forged = {"keep": True, "messages": forged_history()}  # what today's page would hand over
    restore = tab.the_restore_event()
    started = time.monotonic()
    chat, *_ = tab.run_queued(restore, [forged, None, "en"])  # kept, state, ui_lang
    restoring = time.monotonic() - started
    shown = chat if isinstance(chat, list) else (chat or {}).get("value") or []
    assert shown == [] and restoring < 10, (len(shown), restoring)
    respond = tab.the_event("respond")
    message = {"text": "Hello", "files": []}
    started = time.monotonic()
    history, *_ = tab.run_queued(respond, tab.defaults(respond, **{"bmx-input": message, "bmx-max-new-tokens": 1}))
    replying = time.monotonic() - started
    assert [m["role"] for m in history] == ["user", "assistant"]  # the reply saw only its own turn
    assert replying < 30, replying
