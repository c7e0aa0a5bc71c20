"""Stored transcripts and the conversation language used for the per-language boards."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.transcripts import conversation_language, has_reply, image_name, stored_transcript
from engine.messages import Message


def _conversation(*user_texts: str, reply: str = "OK") -> list[dict]:
    messages = []
    for text in user_texts:
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
    return messages


@pytest.mark.parametrize("user_texts, expected", [
    (("ما هي أعراض فقر الدم؟",), "ar"),
    (("What are the symptoms of anaemia?", "And the treatment?"), "en"),
    (("What are the symptoms of anaemia?", "وما هو العلاج؟"), "mixed"),
    (("عندي headache من يومين",), "ar"),  # code-switched, mostly Arabic script
    (("ما هي نتيجة CBC؟", "CBC?"), "ar"),  # "CBC?" carries no language of its own
])
def test_conversation_language_follows_the_rater_messages(user_texts, expected):
    transcript = _conversation(*user_texts, reply="Replies in English do not count.")
    assert conversation_language(transcript, transcript) == expected


def test_replies_decide_only_when_the_rater_wrote_no_words():
    arabic_reply = [{"role": "user", "content": "?", "images": ["xray.png"]},
                    {"role": "assistant", "content": "تظهر الصورة كسرًا في عظم الساعد."}]
    assert conversation_language(arabic_reply, arabic_reply) == "ar"
    silent = [{"role": "user", "content": "123"}, {"role": "assistant", "content": "…"}]
    assert conversation_language(silent) == "en"


def test_stored_transcripts_keep_image_names_not_paths_or_pixels():
    from PIL import Image

    messages = [Message("system", "Be brief."),
                Message("user", "Look", ("/home/dr/patients/7/chest.png", Image.new("RGB", (2, 2)))),
                {"role": "assistant", "content": "Clear lungs."},
                {"role": "user", "content": "and this?", "attachments": ["/tmp/gradio/ab12/knee.dcm"]}]
    stored = stored_transcript(messages)
    assert stored[1] == {"role": "user", "content": "Look", "images": ["chest.png", "<image>"]}
    assert stored[3]["images"] == ["knee.dcm"] and "images" not in stored[2]
    assert image_name(Path("/data/in/y.png")) == "y.png"
    with pytest.raises(ValueError):
        stored_transcript([{"role": "doctor", "content": "x"}])
    with pytest.raises(TypeError):
        stored_transcript([{"role": "user", "content": None}])


def test_has_reply_needs_a_final_non_empty_assistant_message():
    assert has_reply(_conversation("hi"))
    assert not has_reply(_conversation("hi")[:1])
    assert not has_reply(_conversation("hi", reply=" \n"))
    assert not has_reply([])
