"""What the arena's unit tests share (tests/ui/test_arena.py, tests/ui/test_arena_screen.py):
reply options and the `pool` and `store` fixtures (imported by each file that uses them)."""

import pytest

from arena import open_store
from engine.generation import GenerationSettings
from engine.pool import ModelPool, ModelSpec
from engine.reply import ReplyOptions
from tests.engine.test_loading import make_adapter

SHORT = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=4, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def pool(tiny_dirs, tmp_path_factory):
    llama = tiny_dirs("llama")
    adapter = make_adapter(llama, tmp_path_factory.mktemp("adapters") / "kind", seed=3)
    return ModelPool([ModelSpec(str(llama), (str(adapter),)), ModelSpec(str(tiny_dirs("gemma")))])


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / "arena.db"))


LONG = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=60, repetition_penalty=1.0))
