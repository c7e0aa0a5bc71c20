"""The app's own temp folder (ui/temp_folder.py) and what becomes of uploads after intake.

A DICOM uploaded before a crash was still served after the restart, and two app
instances sharing Gradio's default cache served each other's exports: each instance now
has its own folder, emptied at start, and an upload's original is deleted once read.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from engine.loading import load_model
from engine.pool import ModelPool, ModelSpec
from tests.engine.test_images import ct_pixels, dicom_dataset, write_dicom
from ui.temp_folder import INSTANCE_ENV, PID_FILE, prepare_temp_folder


def test_each_instance_gets_its_own_emptied_folder_and_dead_ones_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "/tmp/gradio")  # restored after the test
    monkeypatch.setenv(INSTANCE_ENV, "")
    left = tmp_path / "port-7860" / "gradio" / "abc"
    left.mkdir(parents=True)
    (left / "patient.dcm").write_bytes(b"DICM with tags")  # from a run killed with -9
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    crashed = tmp_path / "port-7000"
    crashed.mkdir()
    (crashed / PID_FILE).write_text(dead.stdout.strip())
    alive = tmp_path / "port-7001"  # another instance, still running: untouched
    alive.mkdir()
    (alive / PID_FILE).write_text(str(os.getppid()))

    folder = prepare_temp_folder(7860, base=tmp_path)
    assert folder == tmp_path / "port-7860" and not (folder / "gradio" / "abc").exists()
    assert os.environ["GRADIO_TEMP_DIR"] == str(folder / "gradio")
    assert not crashed.exists() and alive.exists()
    assert (folder.stat().st_mode & 0o777) == 0o700  # no other user of the machine reads uploads


def test_the_original_upload_is_deleted_once_read_and_the_preview_stays(tiny_dirs, tmp_path, monkeypatch):
    from ui.handlers import ChatHandlers

    cache = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    (cache / "h1").mkdir(parents=True)
    scan = write_dicom(cache / "h1" / "scan.dcm", dicom_dataset(ct_pixels(), PatientName="Doe^Jane",
                                                                 RescaleSlope=1, RescaleIntercept=-1024))
    photo = cache / "h1" / "photo.jpg"
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(photo, exif=Image.Exif())
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    outputs = list(handlers.respond({"text": "what is this?", "files": [str(scan), str(photo)]}, None, "auto",
                                    0, 0.9, 4, 1.0, -1, "none", "en"))
    conversation = outputs[-1][2]
    assert not scan.exists() and not photo.exists()  # the DICOM's tags are gone from the server
    shown = conversation.attachments[-1]
    assert [os.path.basename(path) for path in shown] == ["scan.dcm.preview.png", "photo.jpg.preview.png"]
    assert all(os.path.exists(path) for path in shown)
    assert b"Doe^Jane" not in b"".join(open(path, "rb").read() for path in shown)


def test_a_refused_upload_that_intake_cannot_read_is_deleted(tiny_dirs, tmp_path, monkeypatch):
    from ui.handlers import ChatHandlers

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    monkeypatch.setattr("ui.common.gr.Warning", lambda text: None)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    *_, (chat, box, conversation) = handlers.respond({"text": "hi", "files": [str(broken)]}, None, "auto", 0, 0.9,
                                                      4, 1.0, -1, "none", "en")
    assert not broken.exists()  # its message named it; the person attaches another
    assert box["text"] == "hi" and box["files"] == [] and conversation.messages == []


def test_a_model_path_is_never_shown(tiny_dirs):
    path = str(tiny_dirs("llama"))
    pool = ModelPool([ModelSpec(path), ModelSpec("preview")], loader=lambda *a, **k: load_model(path))
    public = pool.public_name(path)
    assert "/" not in public and pool.by_public_name(public) == path
    assert "/" not in pool.title(path) and "/" not in pool.public_contestant(f"{path}:my-adapter")
    assert pool.public_contestant(f"{path}:my-adapter") == f"{public}:my-adapter"
    from ui.common import model_card

    assert path not in model_card(load_model(path), "en")
