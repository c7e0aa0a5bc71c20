"""Reply-language policy: the newest user message decides, forced policies override."""

from __future__ import annotations

import pytest
from langdetect.lang_detect_exception import ErrorCode, LangDetectException

from engine import language
from engine.language import LanguageGuess, detect_language, reply_language, resolve_reply_language

LONG_EN = (
    "I am a 45-year-old man with type 2 diabetes. For the past two weeks I have been "
    "feeling very tired, thirsty all the time, and I wake up several times at night to "
    "urinate. My doctor ordered a CBC and HbA1c last month and prescribed metformin "
    "500mg twice daily. Should I be worried about these symptoms, and what should I ask "
    "at my next appointment?"
)
LONG_AR = (
    "أنا امرأة عمري ٣٥ سنة، أعاني منذ أسبوعين من صداع شديد في الجهة اليسرى من الرأس، "
    "ويزداد الألم مع الضوء والضوضاء. أجريت تحليل CBC وكانت النتائج طبيعية، وأتناول "
    "باراسيتامول 500mg عند اللزوم لكنه لا يخفف الألم كثيرا. هل يمكن أن يكون هذا صداعا "
    "نصفيا، ومتى يجب أن أراجع الطبيب؟"
)

# (text, previous, expected reply language in "auto")
AUTO_CASES = [
    # short English
    ("ok", None, "en"),
    ("yes", None, "en"),
    ("thanks", None, "en"),
    ("hi", None, "en"),
    ("Thank you doctor", None, "en"),
    # short Arabic
    ("شكرا", None, "ar"),
    ("نعم", None, "ar"),
    ("لا", None, "ar"),
    ("مرحبا", None, "ar"),
    # Arabic with English medical terms / acronyms / doses
    ("CBC نتائج", None, "ar"),
    ("عندي headache من امبارح", None, "ar"),
    ("نتائج MRI طبيعية؟", None, "ar"),
    ("ما هو HbA1c", None, "ar"),
    ("HbA1c 7% و LDL 130 mg/dl طبيعي؟", None, "ar"),
    ("هل آخذ ibuprofen 400 mg مع الأكل؟", None, "ar"),
    ("عملت ECG و Echo والدكتور قال كله تمام", None, "ar"),
    ("نتيجة بالMRI طلعت سليمة", None, "ar"),
    # English with an Arabic word
    ("I have صداع since yesterday", None, "en"),
    ("Is 500mg باراسيتامول safe?", None, "en"),
    ("My mother has سكري and high blood pressure", None, "en"),
    # an English message stays English even inside an Arabic conversation
    ("What are the side effects of metformin?", "ar", "en"),
    # Arabic with diacritics (tashkeel)
    ("مَرْحَبًا", None, "ar"),
    ("أُعَانِي مِنْ أَلَمٍ فِي الصَّدْرِ", None, "ar"),
    # Arabic with Arabic-Indic digits
    ("٣ أيام", None, "ar"),
    ("حرارتي ٣٩ درجة من ٣ أيام", "en", "ar"),
    # dialects: Egyptian, Gulf, Levantine
    ("ازيك يا دكتور", None, "ar"),
    ("عندي وجع في بطني من امبارح ومش عارف اعمل ايه", None, "ar"),
    ("شلونك دكتور، عندي حرارة وايد من البارحة", None, "ar"),
    ("ايش فيني يا دكتور", None, "ar"),
    ("شو لازم اعمل إذا ضل الوجع؟", None, "ar"),
    # Markdown / bullets
    ("## الأعراض\n- صداع\n- حمى\n- **غثيان**", None, "ar"),
    ("- fever\n- **cough** for 3 days\n- `sore throat`", None, "en"),
    ("1. الم في الصدر\n2. ضيق تنفس", "en", "ar"),
    # punctuation only
    ("?", None, "en"),
    ("؟", "ar", "ar"),
    ("...!!!", "en", "en"),
    # numbers only, with and without previous
    ("123", None, "en"),
    ("123", "ar", "ar"),
    ("٣٩", None, "en"),
    ("٣٩", "ar", "ar"),
    ("120/80", "en", "en"),
    # only neutral tokens (acronyms, doses) carry no language: the conversation's stands
    ("CBC?", "ar", "ar"),
    ("500mg", "ar", "ar"),
    ("CBC?", None, "en"),
    # emoji
    ("😊", None, "en"),
    ("👍", "ar", "ar"),
    ("👍 شكرا", "en", "ar"),
    ("👍 thanks", "ar", "en"),
    # empty / whitespace
    ("", None, "en"),
    ("   \n ", "ar", "ar"),
    # Arabizi is out of scope: Latin letters, English reply
    ("3ndi sda3 mn embare7", None, "en"),
    # long paragraphs
    (LONG_EN, None, "en"),
    (LONG_AR, None, "ar"),
    (LONG_EN, "ar", "en"),
    (LONG_AR, "en", "ar"),
]


@pytest.mark.parametrize(("text", "previous", "expected"), AUTO_CASES)
def test_auto_reply_language(text, previous, expected):
    assert reply_language(text, "auto", previous) == expected
    assert detect_language(text, previous).language == expected


@pytest.mark.parametrize(
    ("text", "policy", "previous", "expected"),
    [
        ("I have a headache", "ar", None, "ar"),
        ("عندي صداع", "en", None, "en"),
        ("شكرا", "en", "ar", "en"),
        ("ok", "ar", "en", "ar"),
        ("", "ar", None, "ar"),
        ("123", "en", "ar", "en"),
        (LONG_EN, "ar", None, "ar"),
        (LONG_AR, "en", None, "en"),
    ],
)
def test_forced_policy_overrides_detection(text, policy, previous, expected):
    guess = resolve_reply_language(text, policy, previous)
    assert guess.language == expected
    assert guess.method == "forced"
    assert reply_language(text, policy, previous) == expected


def test_default_policy_is_auto():
    assert reply_language("شكرا") == "ar"
    assert reply_language("thanks") == "en"


@pytest.mark.parametrize("policy", ["AR", "english", "fr", "", None, "Auto"])
def test_bad_policy_raises(policy):
    with pytest.raises(ValueError):
        reply_language("hello", policy)
    with pytest.raises(ValueError):
        reply_language("", policy)  # checked before any detection happens


@pytest.mark.parametrize("previous", ["fr", "AR", ""])
def test_bad_previous_raises(previous):
    with pytest.raises(ValueError):
        detect_language("123", previous)
    with pytest.raises(ValueError):
        reply_language("hello", "en", previous)


@pytest.mark.parametrize(
    ("text", "previous", "method", "language", "share"),
    [
        ("شكرا", None, "script", "ar", 1.0),
        ("I have صداع since yesterday", None, "script", "en", 0.2),
        ("عندي headache من امبارح", None, "script", "ar", 0.75),
        ("Is 500mg باراسيتامول safe?", None, "script", "en", 1 / 3),
        ("CBC نتائج", None, "script", "ar", 1.0),  # the acronym weighs nothing
        ("ok", None, "langdetect", "en", 0.0),  # Latin-only text goes through langdetect
        ("hello شكرا", None, "langdetect", "en", 0.5),  # a tie goes to langdetect
        ("123", "ar", "previous", "ar", 0.0),
        ("😊", None, "default", "en", 0.0),
        ("", None, "default", "en", 0.0),
    ],
)
def test_method_reports_the_deciding_rule(text, previous, method, language, share):
    guess = detect_language(text, previous)
    assert guess.method == method
    assert guess.language == language
    assert guess.arabic_share == pytest.approx(share)


def test_guess_is_frozen():
    guess = detect_language("شكرا")
    assert isinstance(guess, LanguageGuess)
    with pytest.raises(AttributeError):
        guess.language = "en"


@pytest.mark.parametrize(
    "text", ["hello شكرا", "Hi مرحبا", "pain ألم", "ok", "thanks", LONG_AR, LONG_EN]
)
def test_detection_is_deterministic(text):
    # Ties and Latin-only text go through langdetect, whose sampling is random unless seeded.
    answers = {detect_language(text) for _ in range(20)}
    assert len(answers) == 1


class _Lang:
    def __init__(self, lang: str, prob: float) -> None:
        self.lang, self.prob = lang, prob


def _raise_no_features(text):
    raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")


def test_langdetect_failure_on_a_tie_falls_back_to_previous(monkeypatch):
    monkeypatch.setattr(language, "detect_langs", _raise_no_features)
    assert detect_language("hello شكرا", "ar") == LanguageGuess("ar", 0.5, "previous")
    assert detect_language("hello شكرا") == LanguageGuess("en", 0.5, "default")


def test_langdetect_failure_on_latin_text_still_means_english(monkeypatch):
    monkeypatch.setattr(language, "detect_langs", _raise_no_features)
    assert detect_language("thanks", "ar") == LanguageGuess("en", 0.0, "script")


def test_tie_break_compares_arabic_against_the_rest(monkeypatch):
    guesses = [_Lang("ar", 0.45), _Lang("so", 0.3), _Lang("it", 0.25)]
    monkeypatch.setattr(language, "detect_langs", lambda t: guesses)
    assert detect_language("hello شكرا").language == "en"  # 0.45 < 0.3 + 0.25
    monkeypatch.setattr(language, "detect_langs", lambda t: [_Lang("ar", 0.6), _Lang("so", 0.4)])
    assert detect_language("hello شكرا") == LanguageGuess("ar", 0.5, "langdetect")


def test_tie_break_counts_other_arabic_script_languages_as_arabic(monkeypatch):
    monkeypatch.setattr(language, "detect_langs", lambda t: [_Lang("fa", 0.9), _Lang("en", 0.1)])
    assert detect_language("hello شكرا").language == "ar"


def test_latin_only_non_arabic_verdict_means_english(monkeypatch):
    # langdetect often answers Somali or Slovak for short Latin text: still English.
    monkeypatch.setattr(language, "detect_langs", lambda t: [_Lang("so", 1.0)])
    assert detect_language("waan xanuunsanahay", "ar") == LanguageGuess("en", 0.0, "langdetect")


def test_neutral_tokens_are_not_sent_to_langdetect(monkeypatch):
    seen = []
    monkeypatch.setattr(language, "detect_langs", lambda t: seen.append(t) or [_Lang("en", 1.0)])
    detect_language("CBC hello 500mg شكرا HbA1c")
    assert seen == ["شكرا hello"]


def test_langdetect_dead_heat_falls_back_to_previous(monkeypatch):
    monkeypatch.setattr(language, "detect_langs", lambda t: [_Lang("ar", 0.5), _Lang("so", 0.5)])
    assert detect_language("hello شكرا", "ar") == LanguageGuess("ar", 0.5, "previous")
    assert detect_language("hello شكرا") == LanguageGuess("en", 0.5, "default")
