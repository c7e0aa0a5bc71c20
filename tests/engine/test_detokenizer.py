"""Incremental detokenizer on real tokenizers: no half characters, no partial stop strings."""

import pytest

from engine.detokenizer import IncrementalDetokenizer

TEXTS = [
    "The patient reports chest pain radiating to the left arm.",
    "المريض يشكو من ألم في الصدر يمتد إلى الذراع الأيسر منذ ٣ أيام.",
    "مُصابٌ بِالسُّكَّرِيِّ؟ HbA1c = 7.2% — take 500 mg twice daily 💊🩺",
    "Line one\n- item ١\n- item 2\n```\ncode()\n```",
]


def tokenizers(preview, tiny_dirs):
    from transformers import AutoTokenizer

    return {"gemma-real": preview.tokenizer,
            "llama-bytelevel": AutoTokenizer.from_pretrained(tiny_dirs("llama")),
            "mixtral-sentencepiece": AutoTokenizer.from_pretrained(tiny_dirs("mixtral"))}


@pytest.fixture(scope="module")
def all_tokenizers(preview, tiny_dirs):
    return tokenizers(preview, tiny_dirs)


def stream(tokenizer, ids, stops=()):
    detok = IncrementalDetokenizer(tokenizer, stops)
    chunks = [detok.push(i) for i in ids]
    chunks.append(detok.finish())
    return detok, chunks


@pytest.mark.parametrize("name", ["gemma-real", "llama-bytelevel", "mixtral-sentencepiece"])
@pytest.mark.parametrize("text", TEXTS)
def test_stream_equals_full_decode_and_never_half_a_character(all_tokenizers, name, text):
    tokenizer = all_tokenizers[name]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    _, chunks = stream(tokenizer, ids)
    assert "".join(chunks) == tokenizer.decode(ids, skip_special_tokens=True)
    assert all("\ufffd" not in chunk for chunk in chunks)


def test_byte_level_arabic_waits_for_whole_characters(all_tokenizers):
    tokenizer = all_tokenizers["llama-bytelevel"]
    # An emoji is 4 UTF-8 bytes; with a tiny byte-level vocabulary it spans several tokens.
    ids = tokenizer("🩺", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1
    _, chunks = stream(tokenizer, ids)
    assert [c for c in chunks if c] == ["🩺"]


@pytest.mark.parametrize("name", ["gemma-real", "mixtral-sentencepiece"])
def test_stop_string_cuts_the_reply_and_is_never_shown(all_tokenizers, name):
    tokenizer = all_tokenizers[name]
    stops = ("\nUser:", "\nAssistant:")
    ids = tokenizer("Drink water.\nUser: thanks\nAssistant: ok", add_special_tokens=False)["input_ids"]
    detok, chunks = stream(tokenizer, ids, stops)
    assert detok.stopped
    assert "".join(chunks) == "Drink water."
    shown = ""
    for chunk in chunks:
        shown += chunk
        # at no moment does the visible text end with the start of a stop string
        assert not any(shown.endswith(s[:k]) for s in stops for k in range(1, len(s)))


def test_held_text_is_released_when_it_is_not_a_stop_string(all_tokenizers):
    tokenizer = all_tokenizers["gemma-real"]
    text = "Use\nUsers often ask.\nUs"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok, chunks = stream(tokenizer, ids, ("\nUser:",))
    assert not detok.stopped
    assert "".join(chunks) == text  # "\nUs" at the very end is released by finish()
    assert chunks[-1].endswith("\nUs")


def test_arabic_stop_string(all_tokenizers):
    tokenizer = all_tokenizers["gemma-real"]
    ids = tokenizer("اشرب الماء.\nالمستخدم: شكرا", add_special_tokens=False)["input_ids"]
    detok, chunks = stream(tokenizer, ids, ("\nالمستخدم:",))
    assert "".join(chunks) == "اشرب الماء."


def ids_of(tokenizer, pieces):
    return tokenizer.convert_tokens_to_ids(pieces)


@pytest.mark.parametrize("name", ["gemma-real", "llama-bytelevel", "mixtral-sentencepiece"])
@pytest.mark.parametrize("text", [" If you feel dizzy, sit down.", " السكري مرض مزمن."])
def test_the_separator_space_before_the_first_word_is_not_shown(all_tokenizers, name, text):
    """A prompt ends where the reply's first word begins: that word's token carries the
    space a tokenizer writes before a word ("▁If", "ĠI"), which is no part of the reply."""
    tokenizer = all_tokenizers[name]
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    detok, chunks = stream(tokenizer, ids)
    assert "".join(chunks) == detok.text == text[1:]
    assert all("\ufffd" not in chunk for chunk in chunks)


@pytest.mark.parametrize("name,pieces,shown", [
    ("gemma-real", ["▁", "code"], "code"),  # a lone separator token, then the word
    ("gemma-real", ["▁▁▁▁", "code"], "    code"),  # indentation is kept
    ("gemma-real", ["▁", "\n", "x"], " \nx"),
    ("gemma-real", ["\n", "x"], "\nx"),
    ("llama-bytelevel", ["Ġ", "Ġ", "Ġ", "Ġc"], "    c"),
    ("llama-bytelevel", ["Ġ", "Ċ", "x"], " \nx"),
    ("llama-bytelevel", ["Ċ", "x"], "\nx"),
    # Llama-2-style SentencePiece decoders drop the separator themselves: nothing more is.
    ("mixtral-sentencepiece", ["▁", "▁", "▁", "▁c"], "   c"),
    ("mixtral-sentencepiece", ["▁", "▁I", "f"], " If"),
])
def test_only_a_single_space_before_the_first_word_is_dropped(all_tokenizers, name, pieces, shown):
    tokenizer = all_tokenizers[name]
    ids = ids_of(tokenizer, pieces)
    assert tokenizer.unk_token_id not in ids or tokenizer.unk_token in pieces
    detok, chunks = stream(tokenizer, ids)
    assert "".join(chunks) == detok.text == shown


def test_a_reply_that_is_only_a_separator_keeps_it(all_tokenizers):
    tokenizer = all_tokenizers["gemma-real"]
    detok, chunks = stream(tokenizer, ids_of(tokenizer, ["▁"]))
    assert chunks == ["", " "] and detok.text == " "

