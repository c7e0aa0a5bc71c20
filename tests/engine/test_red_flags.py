"""The emergency notice (engine/red_flags.py): which messages get it, in both languages, and
which do not; how a message is normalised; the notice's wording; `python -m engine chat`."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.red_flags import DATA, RedFlag, emergency_notice, load_patterns, normalize

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "evaluate" / "data" / "red_flags_heldout.jsonl"
DEV = ROOT / "evaluate" / "data" / "red_flags_dev.jsonl"

# One English and one Arabic message per category, written for these tests (in neither set).
EMERGENCIES = [
    ("chest_pain", "my chest hurts a lot and I am short of breath"),
    ("chest_pain", "عندي ألم في الصدر مع تعرق بارد"),
    ("stroke", "my uncle's face is drooping and he is slurring his words"),
    ("stroke", "جدتي فجأة صار عندها خدر في نصف جسمها"),
    ("breathing", "my mother is gasping and can't breathe"),
    ("breathing", "ما يقدر يتنفس أبدًا"),
    ("bleeding", "there is a deep cut on his thigh and the blood won't stop"),
    ("bleeding", "نزيف من الجرح لا يتوقف"),
    ("suicide", "I want to end my life"),
    ("suicide", "أفكر أن أنتحر"),
    ("anaphylaxis", "my son's tongue is swelling after he ate a cashew"),
    ("anaphylaxis", "تورم في اللسان بعد حقنة البنسلين"),
    ("unconscious", "my aunt collapsed in the kitchen"),
    ("unconscious", "أخي فاقد الوعي"),
    ("seizure", "my nephew is convulsing on the floor"),
    ("seizure", "أخي يتشنج ولا يتوقف"),
    ("poisoning", "my toddler drank some kerosene"),
    ("poisoning", "طفلي ابتلع بطارية"),
    ("burns", "my sister has a third degree burn on her leg"),
    ("burns", "حرق كبير في الصدر من الزيت المغلي"),
    ("headache", "I have the worst headache I have ever had"),
    ("headache", "أسوأ صداع مر علي في حياتي"),
    ("pregnancy_bleeding", "I am 20 weeks pregnant and bleeding"),
    ("pregnancy_bleeding", "زوجتي حامل ونزل منها دم"),
    ("child_fever", "my daughter has a temperature of 40 and is lethargic"),
    ("child_fever", "ابني عنده حرارة 40 وخامل"),
    ("infant", "our newborn has stopped feeding"),
    ("infant", "الرضيع لا يرضع منذ أمس"),
]

# Messages that name the condition without one happening now: history, general questions.
HARD_NEGATIVES = [
    "my grandfather had a stroke 10 years ago, can he fast in Ramadan?",
    "what is a seizure?",
    "what causes chest pain in children?",
    "in general, how dangerous is anaphylaxis?",
    "explain suicide risk assessment",
    "my back pain is killing me",
    "I burned my tongue a little on hot tea",
    "how do I stop a nosebleed?",
    "is spotting normal in early pregnancy?",
    "what is the maximum daily dose of ibuprofen?",
    "أصيب جدي بجلطة قبل عشر سنوات، هل يصوم؟",
    "ما هو الصرع؟",
    "ما أسباب ألم الصدر عند الأطفال؟",
    "عندي حرقان في المعدة",
    "ولدي عنده تشنج عضلي في الساق",
    "كيف أوقف نزيف الأنف؟",
]


@pytest.mark.parametrize("category,text", EMERGENCIES)
def test_each_category_is_recognised_in_both_languages(category, text):
    notice = emergency_notice(text)
    assert notice is not None, text
    assert notice.category == category


def test_every_category_of_the_data_is_tested_in_both_languages():
    names = {c.name for c in load_patterns().categories}
    arabic = {category for category, text in EMERGENCIES if re.search("[\u0600-\u06ff]", text)}
    english = {category for category, text in EMERGENCIES if not re.search("[\u0600-\u06ff]", text)}
    assert names == arabic == english


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_get_no_notice(text):
    assert emergency_notice(text) is None


@pytest.mark.parametrize("text", ["", "   ", "hello", "مرحبا", "what is a fever?"])
def test_ordinary_messages_get_no_notice(text):
    assert emergency_notice(text) is None


def test_arabic_is_folded_before_matching():
    assert normalize("أَلَمٌ إِلى آخِرِ الصـــدرِ") == " الم الي اخر الصدر "
    assert normalize("حامِلة ؤ ئ ٱ") == " حامله و ي ا "
    assert normalize("حرارته ٤٠ و ۳۹") == " حرارته 40 و 39 "


def test_english_is_lower_cased_without_apostrophes_or_punctuation():
    assert normalize("I CAN'T Breathe!!  He won’t wake...") == " i cant breathe he wont wake "


def test_spelling_variants_of_one_message_give_the_same_notice():
    plain = emergency_notice("اشعر بالم في صدري وضيق في التنفس")
    marked = emergency_notice("أشعُرُ بألمٍ في صدري وضيقٍ في التنفّس")
    stretched = emergency_notice("أشعر بألـــم في صدري وضيق في التنفــس")
    assert plain is not None and plain == marked == stretched


def test_the_notice_is_in_both_languages_and_names_emergency_numbers():
    notice = emergency_notice("crushing chest pain and sweating")
    assert isinstance(notice, RedFlag)
    assert "emergency" in notice.text_en and "112" in notice.text_en and "997" in notice.text_en
    assert "الطوارئ" in notice.text_ar and "112" in notice.text_ar
    assert not re.search("[\u0600-\u06ff]", notice.text_en)
    assert "heart attack" in notice.text_en and "نوبة قلبية" in notice.text_ar
    with pytest.raises(dataclasses.FrozenInstanceError):
        notice.category = "other"  # type: ignore[misc]


def test_suicidal_thoughts_get_crisis_advice():
    notice = emergency_notice("I want to kill myself")
    assert notice.category == "suicide"
    assert "crisis line" in notice.text_en and "خط دعم نفسي" in notice.text_ar


def test_a_rule_naming_an_unknown_term_is_refused(tmp_path):
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    data["categories"][0]["rules"].append(["no_such_term"])
    broken = tmp_path / "red_flags.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="no_such_term"):
        load_patterns(broken)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_held_out_set_covers_every_category_language_and_dialect_apart_from_dev():
    heldout, dev = _rows(HELDOUT), _rows(DEV)
    emergencies = [r for r in heldout if r["category"]]
    assert len(emergencies) >= 150 and len(heldout) - len(emergencies) >= 100
    names = {c.name for c in load_patterns().categories}
    for name in names:
        rows = [r for r in emergencies if r["category"] == name]
        assert {r["lang"] for r in rows} == {"ar", "en"}, name
    assert {r["dialect"] for r in emergencies if r["lang"] == "ar"} == {
        "msa", "gulf", "egyptian", "levantine", "maghrebi"}
    assert {r["dialect"] for r in emergencies if r["lang"] == "en"} == {"lay", "clinical", "typo"}
    assert not {normalize(r["text"]) for r in heldout} & {normalize(r["text"]) for r in dev}


def test_chat_prints_the_notice_before_the_reply_to_an_emergency_only(tiny_dirs):
    model = tiny_dirs("llama")
    result = subprocess.run(
        [sys.executable, "-m", "engine", "chat", "--model", str(model), "--temperature", "0",
         "--max-new-tokens", "2"],
        input="what is a fever?\nI have crushing chest pain and can't breathe\n", stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, cwd=ROOT, timeout=300)  # one stream: the order shows
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    notices = [index for index, line in enumerate(lines) if line.startswith("!! ")]
    assert len(notices) == 2  # one message, both languages, the first message none
    assert "emergency" in lines[notices[0]] and "الطوارئ" in lines[notices[1]]
    assert notices[1] == notices[0] + 1 and notices[1] < len(lines) - 1  # the reply comes after
