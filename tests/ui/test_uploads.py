"""Uploads live only until intake has read them, and only their own browser sees them
(issue 26, items 2 and 13): served to nobody else, refused above the intake's limit,
deleted when their message is refused, abandoned, or the app stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from engine.pool import ModelPool, ModelSpec
from evaluate.servers import ROOT, as_in_a_terminal, free_port, wait_until_up
from tests.engine.test_images import ct_pixels, dicom_dataset, write_dicom
from ui.temp_folder import delete_abandoned_uploads, temp_base

PATIENT = "Doe^Jane"
SETTINGS = ("auto", 0, 0.9, 4, 1.0, -1, "none", "en")


def browser(url: str, name: str) -> httpx.Client:
    return httpx.Client(base_url=url, cookies={"bimedix_browser": name}, timeout=30)


def upload(client: httpx.Client, path: Path) -> str:
    response = client.post("gradio_api/upload", files={"files": (path.name, path.read_bytes())})
    assert response.status_code == 200, response.text
    [stored] = response.json()
    return stored


@pytest.fixture
def scan(tmp_path) -> Path:
    return write_dicom(tmp_path / "scan.dcm", dicom_dataset(ct_pixels(), PatientName=PATIENT,
                                                            RescaleSlope=1, RescaleIntercept=-1024))


def test_an_upload_is_served_only_to_the_browser_that_sent_it(llava_app_url, scan):
    alice, mallory = browser(llava_app_url, "alice"), browser(llava_app_url, "mallory")
    script = httpx.Client(base_url=llava_app_url, timeout=30)  # keeps no cookie
    stored = upload(alice, scan)
    assert stored.startswith("/bimedix-files/") and "/tmp" not in stored  # no server path (item 12)
    assert alice.get("gradio_api/file=" + stored).status_code == 200
    for stranger in (mallory, script):
        response = stranger.get("gradio_api/file=" + stored)
        assert response.status_code == 404 and PATIENT.encode() not in response.content
    # The same file uploaded by another person is their own copy: fetched by them, and
    # untouched when Alice's message is read (Gradio named both by the file's hash).
    bob = browser(llava_app_url, "bob")
    bobs = upload(bob, scan)
    assert bobs != stored and bob.get("gradio_api/file=" + bobs).status_code == 200
    assert bob.get("gradio_api/file=" + stored).status_code == 404
    # Nor can a stranger hand Alice's upload to a handler of their own (which would read it).
    config = mallory.get("config").json()
    respond = next(d for d in config["dependencies"] if d.get("api_name") == "respond")
    message = {"text": "what is this?", "files": [{"path": stored, "meta": {"_type": "gradio.FileData"}}]}
    joined = mallory.post("gradio_api/queue/join", json={"data": [message, None, *SETTINGS],
                                                         "fn_index": respond["id"], "session_hash": "mallorys"})
    assert joined.status_code == 403


def test_an_upload_larger_than_intake_takes_is_refused_before_it_is_stored(llava_app_url, tmp_path):
    alice = browser(llava_app_url, "alice")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(51 * 1024 * 1024))
    response = alice.post("gradio_api/upload", files={"files": (big.name, big.read_bytes())})
    assert response.status_code == 413
    port = int(llava_app_url.rstrip("/").rsplit(":", 1)[1])
    stored = [path for path in (temp_base() / f"port-{port}").rglob("*")
              if path.is_file() and path.stat().st_size > 50 * 1024 * 1024]
    assert stored == []
    # A body claiming more than a message's files can hold is refused before it is read.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: bimedix_browser=alice\r\n"
                    b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000000\r\n\r\n--b")
        assert raw.recv(64).startswith(b"HTTP/1.1 413")


@pytest.fixture
def upload_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "gradio"
    (cache / "h1").mkdir(parents=True)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.setattr("ui.common.gr.Warning", lambda text, **kwargs: None)
    return cache


def test_a_refused_message_gives_its_uploads_back_as_previews_and_keeps_none_as_sent(tiny_dirs, upload_cache):
    from ui.handlers import ChatHandlers

    scan = write_dicom(upload_cache / "h1" / "scan.dcm", dicom_dataset(ct_pixels(), PatientName=PATIENT,
                                                                       RescaleSlope=1, RescaleIntercept=-1024))
    broken = upload_cache / "h1" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    # A model that reads images: the resent preview is answered (a text-only one refuses any image).
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llava")))]))
    too_long = "x" * 25_000
    for files in ([str(scan)], [str(scan), str(broken)]):
        if not scan.exists():
            scan = write_dicom(scan, dicom_dataset(ct_pixels(), PatientName=PATIENT))
        outputs = list(handlers.respond({"text": too_long, "files": files}, None, *SETTINGS))
        chat, box, conversation = outputs[-1]
        assert conversation.messages == [] and box["text"] == too_long  # not sent, the text kept for a fix
        assert not any(Path(path).exists() for path in files)  # the patient's file is gone from the server
        kept = [item.path for item in box["files"]]
        assert [os.path.basename(path) for path in kept] == ["scan.dcm.preview.png"]
        assert [item.orig_name for item in box["files"]] == ["scan.dcm"]
        assert PATIENT.encode() not in Path(kept[0]).read_bytes()
    # The preview goes out as it is when the person sends again (no preview of a preview).
    outputs = list(handlers.respond({"text": "what is this?", "files": kept}, None, *SETTINGS))
    conversation = outputs[-1][2]
    assert [os.path.basename(path) for path in conversation.attachments[-1]] == ["scan.dcm.preview.png"]
    # Clearing (as a closed tab) takes the conversation's previews along.
    handlers.clear(conversation)
    assert not Path(kept[0]).exists()


def test_an_abandoned_upload_is_deleted_within_minutes_and_previews_stay(upload_cache):
    upload_ = upload_cache / "h1" / "photo.jpg"
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(upload_)
    preview = upload_cache / "h1" / "other.dcm.preview.png"
    preview.write_bytes(b"png")
    assert delete_abandoned_uploads(upload_cache, max_age_s=600, now=time.time() + 60) == []  # a minute old: kept
    assert delete_abandoned_uploads(upload_cache, max_age_s=600, now=time.time() + 601) == [upload_]
    assert not upload_.exists() and preview.exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_clean_stop_removes_the_instance_folder(tiny_dirs, stop):
    port = free_port()
    folder = temp_base() / f"port-{port}"
    log = ROOT / "artifacts" / f"app-stop-{port}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as output:
        app = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--model", str(tiny_dirs("llama")),
                                "--no-arena"], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                               env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}, preexec_fn=as_in_a_terminal)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/", app, log, 300)
            assert folder.is_dir()
            (folder / "gradio" / "left-behind.dcm").parent.mkdir(exist_ok=True)
            (folder / "gradio" / "left-behind.dcm").write_bytes(PATIENT.encode())
            app.send_signal(stop)
            assert app.wait(60) is not None
        finally:
            app.kill()
    assert not folder.exists()


def test_no_server_path_and_no_foreign_origin(llava_app_url):
    """Item 12: the page, its config and its API info name no path of the server; another
    origin on the same machine gets no CORS permission (Gradio's own reflected any
    http://localhost origin, with credentials)."""
    page = browser(llava_app_url, "alice")
    port = int(llava_app_url.rstrip("/").rsplit(":", 1)[1])
    for route in ("", "config", "gradio_api/info"):
        body = page.get(route).text
        assert str(temp_base()) not in body and f"port-{port}" not in body and str(ROOT) not in body, route
    example = page.get("config").json()["components"]
    assert "/bimedix-files/examples/" in str(example)
    assert page.get("gradio_api/file=/bimedix-files/examples/chest-xray-synthetic.png").status_code == 200
    evil = {"Origin": "http://localhost:9999"}
    assert "access-control-allow-origin" not in page.get("config", headers=evil).headers
    preflight = page.options("gradio_api/queue/join", headers={**evil, "Access-Control-Request-Method": "POST"})
    assert preflight.headers.get("access-control-allow-origin") is None
