"""The interface text table: complete in both languages."""

from ui.strings import STRINGS, reply_language_choices, text


def arabic_letters(value: str) -> int:
    return sum("\u0600" <= ch <= "\u06ff" for ch in value)


def test_every_string_exists_in_both_languages():
    assert set(STRINGS["en"]) == set(STRINGS["ar"])
    for key in STRINGS["en"]:
        english, arabic = text(key, "en"), text(key, "ar")
        assert english and arabic and english != arabic, key
        assert arabic_letters(arabic) > 0 and arabic_letters(english) == 0, key


def test_an_unknown_language_falls_back_to_english():
    assert text("send", "fr") == text("send", "en")


def test_reply_language_choices_keep_native_names():
    assert [value for _, value in reply_language_choices("ar")] == ["auto", "ar", "en"]
    assert reply_language_choices("en")[1:] == reply_language_choices("ar")[1:] == [("العربية", "ar"), ("English", "en")]
