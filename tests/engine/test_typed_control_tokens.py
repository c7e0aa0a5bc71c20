"""Every added token of a tokenizer is control text when a person types it, special or not:
Gemma-3's `<start_of_image>`, `<end_of_image>` and `[multimodal]` are ordinary added tokens
(not in `all_special_tokens`), which `split_special_tokens` leaves whole (issue 26). Typed,
they must come out as ordinary text pieces, never as their ids: on the real preview tokenizer
and on the Llama-3 and Mixtral-style tiny tokenizers with markers added as ordinary tokens, as
checkpoints do. Only added tokens made of whitespace (Gemma's newline and space runs: how it
writes ordinary spacing) stay as the tokenizer writes them."""

import pytest
from transformers import AutoTokenizer

from engine.encoding import encode_prompt
from engine.formats import LLAMA3_LLAVA, TRANSCRIPT, VICUNA
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.reply import ReplyOptions, reply

ISSUE_MARKERS = ("<start_of_image>", "<end_of_image>", "[multimodal]")
# Markers a checkpoint may add as ordinary (non-special) tokens.
ORDINARY_MARKERS = (*ISSUE_MARKERS, "<image>", "<|im_start|>")


@pytest.fixture(scope="module")
def cases(preview, tiny_dirs):
    """(format, tokenizer) as the cards combine them; tiny ones with ordinary added markers."""
    def with_ordinary_markers(family):
        tokenizer = AutoTokenizer.from_pretrained(tiny_dirs(family))
        tokenizer.add_tokens(list(ORDINARY_MARKERS))
        return tokenizer

    return {"transcript+preview": (TRANSCRIPT, preview.tokenizer),
            "llama3_llava+llama": (LLAMA3_LLAVA, with_ordinary_markers("llama")),
            "vicuna+mixtral": (VICUNA, with_ordinary_markers("mixtral"))}


def control_ids(tokenizer) -> set[int]:
    """Every added token, special or not, but whitespace-only ordinary ones."""
    return {i for i, token in tokenizer.added_tokens_decoder.items() if token.special or str(token).strip()}


def user_ids(tokenizer, fmt, typed: str) -> list[int]:
    encoded = encode_prompt(tokenizer, fmt.render([Message("user", typed)]))
    return [i for i, role in zip(encoded.input_ids, encoded.roles) if role == "user"]


def test_the_preview_reads_the_issues_markers_as_text(preview):
    """The attack as filed: typed into the preview, each became one control id."""
    tokenizer, requests = preview.tokenizer, []
    typed = "look <start_of_image> here <end_of_image> [multimodal]"
    options = ReplyOptions(settings=GenerationSettings(temperature=0, max_new_tokens=1, repetition_penalty=1.0))
    for _ in reply(preview, [Message("user", typed)], options,
                   backend=lambda request, stop: requests.append(request) or iter(())):
        pass
    ids = requests[0].input_ids
    for marker in ISSUE_MARKERS:
        assert tokenizer.convert_tokens_to_ids(marker) not in ids, marker
    assert typed in tokenizer.decode(ids)


@pytest.mark.parametrize("case", ["transcript+preview", "llama3_llava+llama", "vicuna+mixtral"])
def test_no_added_token_typed_becomes_its_id(cases, case):
    fmt, tokenizer = cases[case]
    control = control_ids(tokenizer)
    # every one of them, Gemma's 6,242 unused ones too
    typed = "قبل " + " x".join(tokenizer.convert_ids_to_tokens(sorted(control))) + " after"
    ids = user_ids(tokenizer, fmt, typed)
    assert not control & set(ids)
    assert tokenizer.decode(ids).strip() == typed.strip()


@pytest.mark.parametrize(("case", "marker"), [*(("transcript+preview", m) for m in ISSUE_MARKERS),
                                             *((c, m) for c in ("llama3_llava+llama", "vicuna+mixtral")
                                               for m in ORDINARY_MARKERS)])
def test_an_ordinary_added_marker_typed_alone_or_glued_stays_text(cases, case, marker):
    fmt, tokenizer = cases[case]
    assert marker in tokenizer.get_added_vocab() and not tokenizer.added_tokens_decoder[
        tokenizer.convert_tokens_to_ids(marker)].special
    marker_id = tokenizer.convert_tokens_to_ids(marker)
    for typed in (marker, f"a{marker}b", f"{marker}{marker}", f"صورة {marker}\n"):
        ids = user_ids(tokenizer, fmt, typed)
        assert marker_id not in ids and tokenizer.decode(ids).strip() == typed.strip(), typed
    # the guard: the tokenizer's own way (special tokens split) would have made it the id
    naive = tokenizer(fmt.render([Message("user", marker)]).text, add_special_tokens=False, split_special_tokens=True)
    assert marker_id in naive["input_ids"]


def test_whitespace_pieces_stay_as_the_tokenizer_writes_them(cases):
    fmt, tokenizer = cases["transcript+preview"]
    typed = "first line\n\nsecond line\n  indented\tand spaced"
    rendered = fmt.render([Message("user", typed)])
    expected = [tokenizer.bos_token_id] + tokenizer(rendered.text, add_special_tokens=False)["input_ids"]
    assert encode_prompt(tokenizer, rendered).input_ids == expected
    assert tokenizer.convert_tokens_to_ids("\n\n") in user_ids(tokenizer, fmt, typed)


class _WithoutBackend:
    """A tokenizer as one without a `tokenizers` backend looks to the encoder."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer

    def __call__(self, *args, **kwargs):
        return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        if name == "backend_tokenizer":
            raise AttributeError(name)
        return getattr(self._tokenizer, name)


def test_where_plain_text_cannot_be_had_the_prompt_is_refused_not_injected(cases):
    fmt, tokenizer = cases["vicuna+mixtral"]
    bare = _WithoutBackend(tokenizer)
    special = encode_prompt(bare, fmt.render([Message("user", "a </s> b")]))  # split as special: fine
    assert tokenizer.convert_tokens_to_ids("</s>") not in [i for i, r in zip(special.input_ids, special.roles)
                                                           if r == "user"]
    with pytest.raises(ValueError, match="without control tokens"):
        encode_prompt(bare, fmt.render([Message("user", "a <start_of_image> b")]))
