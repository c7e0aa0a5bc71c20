"""The one stateless reply call: exact finish reasons, nothing of the caller's changed,
the adapter per call, the reply language asked for where the model writes, images decoded
at intake (a new one refused by a text-only model, an older turn's replaced by a note), the prompt encoded once
(tiny models)."""

import copy
import threading

import pytest
from PIL import Image

import engine.reply
from engine.errors import UserFacingError
from engine.generation import GenerationSettings, stream_text
from engine.loading import load_model
from engine.messages import Message
from engine.reply import IMAGE_NOTES, REPLY_INSTRUCTIONS, Reply, ReplyOptions, reply
from engine.session import ChatSession
from tests.engine.test_loading import make_adapter

GREEDY = GenerationSettings(temperature=0, max_new_tokens=32, repetition_penalty=1.0)
OPTIONS = ReplyOptions(settings=GREEDY)


@pytest.fixture(scope="module")
def llama(tiny_dirs):
    return load_model(str(tiny_dirs("llama")))


@pytest.fixture(scope="module")
def mixtral(tiny_dirs):
    return load_model(str(tiny_dirs("mixtral")))  # the transcript format: stop strings


def words(model, text):
    return model.tokenizer(text, add_special_tokens=False)["input_ids"]


def scripted(tokens, fail_after=None, until_stopped=False):
    """A token backend that yields `tokens` (then raises, or keeps going until stopped)."""
    def backend(request, stop):
        for index, token in enumerate(tokens):
            if fail_after is not None and index == fail_after:
                raise RuntimeError("the GPU fell over")
            yield token
        while until_stopped and not stop.is_set():
            yield tokens[-1]
    return backend


def drain(answer: Reply) -> Reply:
    for _ in answer:
        pass
    return answer


def ask(model, backend, text="What is anemia?", options=OPTIONS, **kwargs):
    return reply(model, [Message("user", text)], options, backend=backend, **kwargs)


def prompt_of(model, messages, options=OPTIONS):
    """The prompt the backend was asked to continue, as text."""
    requests = []
    drain(reply(model, messages, options, backend=lambda request, stop: requests.append(request) or iter(())))
    return model.tokenizer.decode(requests[0].input_ids)


# --- why a reply ended: decided in one place, the same for every reason's cause ---------

def test_the_model_ending_its_turn_is_done(llama):
    answer = drain(ask(llama, scripted([*words(llama, "Rest and fluids"), llama.stop_token_ids[0]])))
    assert answer.finish_reason == "done" and answer.text == "Rest and fluids"


def test_a_stop_string_is_cut_and_named(mixtral):
    answer = drain(ask(mixtral, scripted(words(mixtral, "Drink water.\nUser: and then"))))
    assert answer.finish_reason == "stop_string" and answer.text == "Drink water."


def test_max_new_tokens_is_length(llama):
    tokens = words(llama, "the heart pumps blood through the body and the lungs")
    short = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=6))
    assert len(tokens) > 6
    answer = drain(ask(llama, scripted(tokens), options=short))  # the limit holds whatever the source does
    assert answer.finish_reason == "length" and answer.completion_tokens == 6


def test_stop_is_stopped_and_keeps_the_text_so_far(llama):
    answer = ask(llama, scripted(words(llama, "the heart"), until_stopped=True),
                 options=ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=500)))
    for index, _ in enumerate(answer):
        if index == 1:
            answer.stop()
    assert answer.finish_reason == "stopped" and answer.text.startswith("the heart")


def test_a_failure_is_failed_keeps_the_text_and_says_so(llama):
    answer = ask(llama, scripted(words(llama, "the heart pumps"), fail_after=2))
    with pytest.raises(UserFacingError) as caught:
        drain(answer)
    assert answer.finish_reason == "failed" and answer.error is caught.value
    assert caught.value.code == "generation_failed" and "RuntimeError" in caught.value.message("ar")
    assert answer.text == llama.tokenizer.decode(words(llama, "the heart pumps")[:2])


def test_closing_an_unread_reply_generates_nothing_and_is_stopped(llama, monkeypatch):
    import engine.backend

    started = []
    monkeypatch.setattr(engine.backend, "generate_tokens", lambda *a, **k: started.append(1) or iter([1, 2]))
    answer = ask(llama, engine.backend.local_tokens)
    answer.close()
    assert answer.finish_reason == "stopped" and answer.text == "" and not answer.started
    assert started == []  # the backend saw Stop before it started


def test_stream_text_decides_each_reason_from_what_it_saw(llama):
    """The generation layer alone, over plain iterators: the reasons callers get."""
    tokens = words(llama, "fever and cough")
    stop = threading.Event()

    def last(iterator, **kwargs):
        return list(stream_text(iter(iterator), llama.tokenizer, kwargs.pop("limit", 50), **kwargs))[-1]

    assert last(tokens + [llama.stop_token_ids[0]], stop_token_ids=llama.stop_token_ids).finish_reason == "done"
    assert last(tokens).finish_reason == "done"  # a source that ends on its own ended the turn
    assert last(tokens, stop_strings=("cough",)).finish_reason == "stop_string"
    assert last(tokens, limit=len(tokens)).finish_reason == "length"
    stop.set()
    assert last(tokens, stop_event=stop).finish_reason == "stopped"

    def broken():
        yield tokens[0]
        raise OSError("worker died")

    failed = last(broken())
    assert failed.finish_reason == "failed" and isinstance(failed.error, OSError)


def test_generation_only_reads_the_callers_stop_event(llama):
    mine = threading.Event()
    answer = ask(llama, scripted(words(llama, "the heart"), until_stopped=True), stop_event=mine,
                 options=ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=500)))
    chunks = iter(answer)
    next(chunks)
    chunks.close()  # the consumer walks away: the reply stops itself
    assert answer.finish_reason == "stopped" and not mine.is_set()
    other = ask(llama, scripted(words(llama, "the heart"), until_stopped=True), stop_event=mine,
                options=ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=500)))
    for index, _ in enumerate(other):
        if index == 1:
            mine.set()  # the caller's own event stops it too
    assert other.finish_reason == "stopped"


# --- a function of its inputs ---------------------------------------------------------

def test_reply_changes_nothing_it_was_given(tiny_dirs, tmp_path):
    adapter = make_adapter(tiny_dirs("llama"), tmp_path / "kind", seed=5)
    model = load_model(str(tiny_dirs("llama")), adapters=[str(adapter)])
    history = [Message("user", "What is anemia?"), Message("assistant", "A lack of red cells."),
               Message("user", "CBC?")]
    before = copy.deepcopy(history)
    options = ReplyOptions(settings=GREEDY, adapter=None, system_prompt="Be brief.")
    first = drain(reply(model, history, options))
    assert history == before and options == ReplyOptions(settings=GREEDY, adapter=None, system_prompt="Be brief.")
    assert model.default_adapter == "kind"  # the default is not the last reply's adapter
    assert first.language == "en"  # "CBC?" has no language of its own: the conversation's
    second = drain(reply(model, history, options))
    assert (second.text, second.finish_reason) == (first.text, first.finish_reason)  # greedy: same inputs, same reply


def test_interleaved_replies_on_one_history_are_independent(llama):
    history = [Message("user", "ما هو فقر الدم؟")]
    alone = drain(reply(llama, history, OPTIONS)).text
    replies = [reply(llama, history, OPTIONS) for _ in range(3)]
    threads = [threading.Thread(target=drain, args=(answer,)) for answer in replies]
    for thread in threads:  # they queue for the model's reply slot and run in turn
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [answer.text for answer in replies] == [alone] * 3
    assert all(answer.language == "ar" for answer in replies)


def test_the_reply_language_follows_the_newest_message_else_the_conversation(llama):
    history = [Message("user", "عندي صداع"), Message("assistant", "منذ متى؟"), Message("user", "CBC 500mg?")]
    assert ask(llama, scripted([]), text="hello").language == "en"
    assert reply(llama, history, OPTIONS, backend=scripted([])).language == "ar"  # no language of its own
    assert reply(llama, history, ReplyOptions(reply_language="en", settings=GREEDY),
                 backend=scripted([])).language == "en"
    with pytest.raises(ValueError):
        ReplyOptions(reply_language="klingon")


def test_a_leading_system_message_is_the_system_prompt(llama):
    seen = []
    backend = lambda request, stop: seen.append(llama.tokenizer.decode(request.input_ids)) or iter(())  # noqa: E731
    drain(reply(llama, [Message("system", "You are a triage nurse."), Message("user", "hi")], OPTIONS,
                backend=backend))
    drain(reply(llama, [Message("user", "hi")], ReplyOptions(settings=GREEDY, system_prompt="Be brief."),
                backend=backend))
    assert "You are a triage nurse." in seen[0] and "Be brief." in seen[1]


# --- the reply language, asked for where the model writes ----------------------------

ARABIC_THEN_ENGLISH = [Message("user", "عندي صداع"), Message("assistant", "منذ متى؟"),
                       Message("user", "Since yesterday.")]
ENGLISH_THEN_ARABIC = [Message("user", "I have a headache"), Message("assistant", "Since when?"),
                       Message("user", "منذ أمس")]


def test_a_base_model_reply_opens_in_the_chosen_language(mixtral):
    """The transcript format (a base model, `language_hint`): the reply's first word is in
    the reply language, right where the model writes; nothing far above in the system prompt."""
    english = prompt_of(mixtral, ARABIC_THEN_ENGLISH)
    assert english.endswith("User: Since yesterday.\nAssistant: Answer:")
    assert all(text not in english for text in REPLY_INSTRUCTIONS.values())
    assert prompt_of(mixtral, ENGLISH_THEN_ARABIC).endswith("User: منذ أمس\nAssistant: الجواب:")
    forced = ReplyOptions(reply_language="en", settings=GREEDY)
    assert prompt_of(mixtral, ENGLISH_THEN_ARABIC, forced).endswith("User: منذ أمس\nAssistant: Answer:")
    answer = drain(reply(mixtral, ENGLISH_THEN_ARABIC, OPTIONS, backend=scripted(words(mixtral, " حسنًا"))))
    assert answer.language == "ar" and answer.text.strip() == "حسنًا"  # the lead-in is the prompt's, not the reply's


def test_a_forced_language_is_asked_for_at_the_end_of_the_user_turn(llama):
    """A chat model (its own template) mirrors the user by itself; a forced language is said
    at the end of the newest user turn, just before the model's turn."""
    forced = prompt_of(llama, ARABIC_THEN_ENGLISH, ReplyOptions(reply_language="ar", settings=GREEDY))
    assert forced.endswith("Since yesterday.\n\nأجب باللغة العربية.<|eot_id|>"
                           "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert forced.count(REPLY_INSTRUCTIONS["ar"]) == 1
    auto = prompt_of(llama, ARABIC_THEN_ENGLISH)
    assert all(text not in auto for text in REPLY_INSTRUCTIONS.values())


# --- bad input: clear errors before anything is generated -----------------------------

@pytest.mark.parametrize("text,code", [("", "empty_message"), ("  \n", "empty_message"),
                                       ("\u202e\u202c\u200f", "empty_message"),  # invisible only
                                       ("x" * 20_001, "message_too_long")])
def test_bad_messages_are_refused_before_generation(llama, text, code):
    started = []
    with pytest.raises(UserFacingError) as caught:
        ask(llama, lambda request, stop: started.append(1) or iter(()), text=text)
    assert caught.value.code == code and started == []


def test_an_adapter_the_model_lacks_is_refused(llama):
    with pytest.raises(UserFacingError) as caught:
        ask(llama, scripted([]), options=ReplyOptions(settings=GREEDY, adapter="kind"))
    assert caught.value.code == "unknown_adapter" and "kind" in caught.value.message("ar")


# --- images: decoded once, at intake --------------------------------------------------

def test_images_reach_the_core_decoded(tiny_dirs, tmp_path):
    llava = load_model(str(tiny_dirs("llava")))
    Image.new("RGB", (32, 32), "red").save(tmp_path / "scan.png")
    with pytest.raises(TypeError, match="decoded"):  # a file path is intake's job, not the core's
        reply(llava, [Message("user", "look", (str(tmp_path / "scan.png"),))], OPTIONS)
    answer = reply(llava, [Message("user", "look", (Image.open(tmp_path / "scan.png"),))], OPTIONS)
    assert answer.intake_notes == () and answer.notices() == []
    drain(answer)


@pytest.mark.parametrize("text", ["", "  \n", "\u2067\u2069", "\u200f", "What do you see on this chest X-ray?",
                                  "ماذا تظهر هذه الصورة الشعاعية للصدر؟"])
def test_an_image_to_a_text_only_model_is_refused_before_anything(mixtral, llama, text):
    """With text or without: a small model told of an image still described one, so the
    message is not sent at all (every caller gets this same refusal)."""
    for model in (mixtral, llama):
        started = []
        with pytest.raises(UserFacingError) as caught:
            reply(model, [Message("user", text, (Image.new("RGB", (8, 8)),))], OPTIONS,
                  backend=lambda request, stop: started.append(1) or iter(()))
        assert caught.value.code == "model_cannot_read_images" and started == []
        assert "cannot see images" in caught.value.message("en") and "without the image" in caught.value.message("en")
        assert "لا يستطيع رؤية الصور" in caught.value.message("ar")


def test_an_image_is_refused_before_counting_the_prompt(mixtral):
    """The refusal comes first: /tokenize (prepare_prompt) refuses it too."""
    with pytest.raises(UserFacingError) as caught:
        engine.reply.prepare_prompt(mixtral, [Message("user", "what is it?", (Image.new("RGB", (8, 8)),))], OPTIONS)
    assert caught.value.code == "model_cannot_read_images"


def test_older_turns_images_are_replaced_by_a_note_for_a_text_only_model(mixtral):
    """Images of older turns (sent before a switch to a text-only model) are left out with
    a note in the turn's language, before its text; the newest turn has none; the caller's
    messages keep no note."""
    image = Image.new("RGB", (8, 8))
    arabic = [Message("user", "ما هذا؟", (image,)), Message("assistant", "صورة صدر."), Message("user", "وما العلاج؟")]
    read = engine.reply.prompt_messages(mixtral, arabic, OPTIONS, "ar")
    assert read[-3].content == "[أُرفقت صورة بهذه الرسالة، لكن هذا النموذج لا يستطيع رؤية الصور.]\nما هذا؟"
    assert all(m.images == () for m in read) and arabic[0].content == "ما هذا؟"
    english = [Message("user", "", (image,)), Message("assistant", "I cannot see it."),
               Message("user", "Is this rash serious?", (image, image)), Message("assistant", "Maybe."),
               Message("user", "What should I do?")]
    answer = reply(mixtral, english, OPTIONS, backend=scripted(words(mixtral, "Rest.")))
    assert answer.notices() == []
    drain(answer)
    prompt = prompt_of(mixtral, english)
    assert f"User: {IMAGE_NOTES['en'][0]}\nAssistant: I cannot see it.\n" in prompt  # an image alone: its note
    assert ("User: [2 images were attached to this message, but this model cannot see images.]\n"
            "Is this rash serious?\n") in prompt
    assert prompt.endswith("User: What should I do?\nAssistant: Answer:")


def test_a_session_on_a_text_only_model_refuses_an_image_and_keeps_nothing(mixtral, tmp_path):
    """Refused before intake reads the file; the session goes on in text."""
    session = ChatSession(mixtral, OPTIONS, backend=scripted(words(mixtral, "ok")))
    Image.new("RGB", (8, 8)).save(tmp_path / "scan.png")
    for images in ((Image.new("RGB", (8, 8)),), (str(tmp_path / "scan.png"),), ("missing.png",)):
        with pytest.raises(UserFacingError) as caught:
            session.send("ما هذا الطفح؟", images)
        assert caught.value.code == "model_cannot_read_images" and session.messages == []
    drain(session.send("ما هذا الطفح؟"))
    assert session.messages[0] == Message("user", "ما هذا الطفح؟")


# --- the prompt is encoded once per reply ---------------------------------------------

def counting_encoder(monkeypatch):
    calls = []
    encode = engine.reply.encode_prompt
    monkeypatch.setattr(engine.reply, "encode_prompt", lambda *a: calls.append(1) or encode(*a))
    return calls


def test_a_prompt_that_fits_is_encoded_once(llama, monkeypatch):
    calls = counting_encoder(monkeypatch)
    requests = []
    drain(ask(llama, lambda request, stop: requests.append(request) or iter(())))
    assert len(calls) == 1
    expected = engine.reply.measure_prompt(llama, engine.reply.prompt_messages(
        llama, [Message("user", "What is anemia?")], OPTIONS, "en")).input_ids
    assert list(requests[0].input_ids) == expected  # what was counted is what is generated from


def test_history_fitting_hands_back_the_encoding_it_counted(llama, monkeypatch):
    import dataclasses

    small = dataclasses.replace(llama, context_window=GREEDY.max_new_tokens + 60)
    history = []
    for index in range(12):
        history += [Message("user", f"question {index} about the blood count"), Message("assistant", "fine")]
    history.append(Message("user", "and now?"))
    measured = []
    measure = engine.reply.measure_prompt
    monkeypatch.setattr(engine.reply, "measure_prompt", lambda *a: measured.append(1) or measure(*a))
    calls = counting_encoder(monkeypatch)
    requests = []
    answer = reply(small, history, OPTIONS, backend=lambda request, stop: requests.append(request) or iter(()))
    assert answer.dropped_turns > 0 and answer.prompt_tokens <= 60
    assert len(calls) == len(measured) <= 2 + 4  # whole, newest alone, a binary search; none after
    assert len(requests[0].input_ids) == answer.prompt_tokens


# --- the holder -----------------------------------------------------------------------

def test_a_session_files_each_exchange_when_its_reply_ends(llama):
    session = ChatSession(llama, OPTIONS, backend=scripted(words(llama, "Rest.")))
    answer = drain(session.send("What is anemia?"))
    assert [m.content for m in session.messages] == ["What is anemia?", answer.text.strip()]
    never = session.send("unread")
    assert not session.busy and session.messages[-1].role == "assistant"
    drain(session.send("read"))  # the unread reply was discarded, not filed
    assert [m.content for m in session.messages[::2]] == ["What is anemia?", "read"]
    assert never.ended and never.finish_reason == "stopped"


def three_frame_dicom(path):
    """A 3-frame CT series (pydicom, as tests/engine/test_images.py builds them)."""
    import numpy as np

    from tests.engine.test_images import dicom_dataset, write_dicom

    frames = np.stack([np.full((16, 16), value, dtype=np.uint16) for value in (100, 2000, 4000)])
    return write_dicom(path, dicom_dataset(frames))


@pytest.mark.parametrize("lang, said", [("en", "the model sees only frame 2"), ("ar", "الإطار 2")])
def test_a_dicom_series_says_which_frame_the_model_sees(tiny_dirs, tmp_path, lang, said):
    """Intake keeps one frame of a series; every caller's reply notices say which, in the
    language asked, and only for the message that carried it."""
    from engine.images import load_image

    llava = load_model(str(tiny_dirs("llava")))
    series = load_image(three_frame_dicom(tmp_path / "series.dcm"))
    history = [Message("user", "what is this?", (series,))]
    answer = reply(llava, history, OPTIONS)
    assert any(said in line and "3" in line for line in answer.notices(lang))
    drain(answer)
    later = reply(llava, [*history, Message("assistant", "A CT."), Message("user", "and now?")], OPTIONS)
    assert later.notices(lang) == []
    drain(later)
