"""The offline preview model: converted once, then loaded from the cache."""

import pytest

from engine import preview as preview_module
from engine.cards import CARDS


def test_preview_is_the_real_gemma_and_says_it_is_not_medical(preview):
    assert type(preview.model).__name__ == "Gemma3ForCausalLM"
    assert preview.tokenizer.bos_token == "<bos>" and len(preview.tokenizer) == 262144
    assert preview.prompt_format.name == "transcript"
    assert preview.card.notice == CARDS["preview"].notice
    assert "not a medical model" in preview.card.notice.lower()


def test_warm_start_uses_the_cache_without_converting(preview, monkeypatch):
    def fail(*args):
        raise AssertionError("the cached conversion should have been used")

    monkeypatch.setattr(preview_module, "_convert", fail)
    directory = preview_module.ensure_preview_checkpoint()
    assert (directory / "model.safetensors").exists() and (directory / "tokenizer.json").exists()


def test_an_incomplete_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv(preview_module.CACHE_ENV, str(tmp_path))
    target = preview_module.converted_dir()
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # as if a conversion died half-way
    calls = []

    def fake_convert(source, destination):
        calls.append((source, destination))
        (destination / "model.safetensors").write_bytes(b"")

    monkeypatch.setattr(preview_module, "gguf_file", lambda: tmp_path / "model.gguf")
    monkeypatch.setattr(preview_module, "_convert", fake_convert)
    assert preview_module.ensure_preview_checkpoint() == target
    assert calls == [(tmp_path / "model.gguf", target)]


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(preview_module.CACHE_ENV, str(tmp_path / "c"))
    assert preview_module.converted_dir().is_relative_to(tmp_path / "c")
    monkeypatch.delenv(preview_module.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert preview_module.cache_root() == tmp_path / "xdg" / "bimedix-chat"


def test_saved_conversion_has_no_gguf_quantization_left(preview):
    import json

    config = json.loads((preview_module.converted_dir() / "config.json").read_text())
    assert "quantization_config" not in config
    assert not getattr(preview.model, "is_quantized", False)
