"""The app's own temp folder (ui/temp_folder.py) and what becomes of uploads after intake.

A DICOM uploaded before a crash was still served after the restart, and two app
instances sharing Gradio's default cache served each other's exports: each instance now
has its own folder, emptied at start, and an upload's original is deleted once read.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.loading import load_model
from engine.pool import ModelPool, ModelSpec
from tests.engine.test_images import ct_pixels, dicom_dataset, write_dicom
from ui.assets import EXAMPLES_DIR as ROOT_EXAMPLES
from ui.temp_folder import (INSTANCE_ENV, LOCK_FILE, PID_FILE, TEMP_ENV, StartupRefused, check_port_free,
                            make_private, prepare_temp_folder, remove_abandoned)


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
    handlers = ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llava")))]))  # it reads images
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
    monkeypatch.setattr("ui.common.gr.Warning", lambda text, **_: None)
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


def hold_lock(folder) -> subprocess.Popen:
    """Another process holding `folder`'s lock, as a live instance does."""
    holder = subprocess.Popen([sys.executable, "-c", f"""
import fcntl, os, sys, time
descriptor = os.open({str(folder / LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_folder_whose_lock_is_held_is_never_deleted_even_when_its_pid_file_names_a_dead_process(tmp_path,
                                                                                                  monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "/tmp/gradio")
    monkeypatch.setenv(INSTANCE_ENV, "")
    live = tmp_path / "port-7000"
    (live / "downloads").mkdir(parents=True)
    (live / "downloads" / "export.md").write_text("a live instance's export")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (live / PID_FILE).write_text(dead.stdout.strip())  # a reused or stale pid fools no one now
    holder = hold_lock(live)
    try:
        assert remove_abandoned(tmp_path) == [] and (live / "downloads" / "export.md").exists()
        with pytest.raises(StartupRefused) as refused:
            prepare_temp_folder(7000, base=tmp_path)  # a second start on its port
        assert "--port 7001" in refused.value.message("en") and "--port 7001" in refused.value.message("ar")
        assert (live / "downloads" / "export.md").exists()
    finally:
        holder.kill()  # kill -9: the OS lets the lock go
        holder.wait()
    assert prepare_temp_folder(7000, base=tmp_path) == live and not (live / "downloads").exists()


def test_a_busy_port_is_refused_with_the_fix_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupRefused) as refused:
            check_port_free("127.0.0.1", port)
    assert refused.value.message("en") == (f"Port {port} is already in use (is BiMediX Chat already running?). "
                                           f"Start with --port {port + 1}, or stop the other app first.")
    assert f"--port {port + 1}" in refused.value.message("ar")
    check_port_free("127.0.0.1", port)  # free again: no complaint


def test_every_folder_is_0700_under_umask_000_and_a_looser_base_is_tightened(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "/tmp/gradio")
    monkeypatch.setenv(INSTANCE_ENV, "")
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(0o777)
    previous = os.umask(0)
    try:
        folder = prepare_temp_folder(7860, base=base)
        shutil.copytree(ROOT_EXAMPLES, folder / "examples")  # as ui/assets.py copies them
        make_private(folder)
    finally:
        os.umask(previous)
    for path in (base, folder, folder / "gradio", folder / "examples"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in folder.rglob("*"))


def test_a_base_folder_that_is_not_this_users_own_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", "/tmp/gradio")
    monkeypatch.setenv(INSTANCE_ENV, "")
    monkeypatch.delenv(TEMP_ENV, raising=False)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    elsewhere = tmp_path / "planted"
    elsewhere.mkdir()
    (tmp_path / "bimedix-chat").symlink_to(elsewhere)  # made by another user of the machine
    folder = prepare_temp_folder(7860)
    assert folder == tmp_path / f"bimedix-chat-{os.geteuid()}" / "port-7860" and not any(elsewhere.iterdir())

    monkeypatch.setenv(TEMP_ENV, str(tmp_path / "bimedix-chat"))  # named on purpose: refused, not replaced
    with pytest.raises(StartupRefused, match=TEMP_ENV):
        prepare_temp_folder(7861)
    if os.geteuid() == 0:  # a real folder of another user (only root can make one here)
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)
        monkeypatch.setenv(TEMP_ENV, str(theirs))
        with pytest.raises(StartupRefused, match="belongs to another user"):
            prepare_temp_folder(7862)
        assert not any(theirs.iterdir())
