"""Settings no model can take are refused before anything is generated, with a message in
both languages that names the setting (issue 26, item 11, the app's side): a seed of 2**80
once reached torch and came back as "The model failed while replying (ValueError)", and a
reply length beyond the context as a budget of "-999997952" tokens."""

from __future__ import annotations

import math

import pytest

from engine.errors import InvalidSetting, UserFacingError
from engine.generation import GenerationSettings
from engine.loading import load_model
from engine.messages import Message
from engine.reply import ReplyOptions, reply

BAD_SETTINGS = [
    ("temperature", math.nan), ("temperature", math.inf), ("temperature", -0.5), ("temperature", "hot"),
    ("top_p", math.nan), ("top_p", 0), ("top_p", 1.5), ("top_p", -math.inf),
    ("max_new_tokens", 0), ("max_new_tokens", 1.5), ("max_new_tokens", True), ("max_new_tokens", math.inf),
    ("repetition_penalty", math.nan), ("repetition_penalty", math.inf), ("repetition_penalty", 0),
    ("seed", 2**80), ("seed", -(2**64)), ("seed", 1.5), ("seed", math.nan),
    ("top_k", -1), ("top_k", 2.5), ("top_k", 10**400),
]


@pytest.fixture(scope="module")
def llama(tiny_dirs):
    return load_model(str(tiny_dirs("llama")))


@pytest.mark.parametrize("name,value", BAD_SETTINGS)
def test_a_bad_setting_is_refused_in_both_languages_naming_it(name, value):
    with pytest.raises(InvalidSetting) as refused:
        GenerationSettings(**{name: value})
    error = refused.value
    assert isinstance(error, UserFacingError) and isinstance(error, ValueError)  # as before: a ValueError
    assert error.name == name
    english, arabic = error.message("en"), error.message("ar")
    assert name in english and name in arabic and english != arabic


@pytest.mark.parametrize("settings", [
    {}, {"temperature": 0}, {"top_p": 1}, {"seed": 0}, {"seed": 2**63 - 1}, {"seed": -(2**63)},
    {"max_new_tokens": 1}, {"top_k": 50}, {"repetition_penalty": 1.0}])
def test_good_settings_are_taken(settings):
    GenerationSettings(**settings)


def test_the_largest_seed_allowed_reaches_generation(llama):
    """The range allowed is one every backend takes (torch, vLLM's int64): never a failure."""
    settings = GenerationSettings(temperature=0.7, max_new_tokens=3, seed=2**63 - 1)
    answer = reply(llama, [Message("user", "hello")], ReplyOptions(settings=settings))
    list(answer)
    assert answer.finish_reason in ("length", "done") and answer.error is None


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_a_reply_longer_than_the_context_is_named_and_no_budget_is_negative(llama, lang):
    asked = 10**9
    options = ReplyOptions(settings=GenerationSettings(max_new_tokens=asked))
    with pytest.raises(UserFacingError) as refused:
        reply(llama, [Message("user", "hello")], options)
    message = refused.value.message(lang)
    assert refused.value.code == "reply_longer_than_context"
    assert "max_new_tokens" in message and str(asked) in message and str(llama.context_window) in message
    assert "-" not in message.replace("max_new_tokens", "")


def test_the_app_form_says_which_setting_is_wrong(tiny_dirs, monkeypatch):
    """The settings panel's seed box takes any integer: 2**80 is told, not a model failure."""
    import ui.handlers
    from engine.pool import ModelPool, ModelSpec

    shown = []
    monkeypatch.setattr(ui.handlers, "warn", lambda error, lang, *more: shown.append(error.message(lang)))
    handlers = ui.handlers.ChatHandlers(ModelPool([ModelSpec(str(tiny_dirs("llama")))]))
    for lang in ("en", "ar"):
        outputs = list(handlers.respond({"text": "hello", "files": []}, None, "auto", 0.7, 0.9, 4, 1.1, 2**80,
                                        "none", lang))
        conversation = outputs[-1][2]
        assert not [m for m in conversation.messages if m.role == "assistant"]  # nothing generated
    assert len(shown) == 2 and all("seed" in line for line in shown)
    assert "failed" not in shown[0] and "2^63" in shown[0] and shown[0] != shown[1]
    assert handlers.admission.in_flight == 0  # the refused reply gave its place back


def test_engine_chat_names_the_bad_option_before_loading_anything():
    from typer.testing import CliRunner

    from engine.__main__ import app

    result = CliRunner().invoke(app, ["chat", "--model", "no-such-model", "--seed", str(2**80)], input="hi\n")
    assert result.exit_code == 2  # a usage error, not a traceback, and before the (missing) model is looked for
    assert "--seed" in result.output and "2^63" in result.output
