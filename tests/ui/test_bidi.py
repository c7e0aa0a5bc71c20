"""Per-message direction and the HTML each message is shown as."""

import pytest

from ui.bidi import message_direction, render_message


@pytest.mark.parametrize("text,direction", [
    ("What is anemia?", "ltr"),
    ("ما هو فقر الدم؟", "rtl"),
    ("عندي headache منذ يومين", "rtl"),  # mostly Arabic words
    ("CBC نتائج", "rtl"),  # acronyms are neutral: the one real word is Arabic
    ("HbA1c 7% و LDL 130 mg/dl طبيعي؟", "rtl"),
    ("What does the word كبد mean in a lab report?", "ltr"),  # mostly English words
])
def test_direction_follows_the_words_of_the_message(text, direction):
    assert message_direction(text).dir == direction
    html = render_message(text).html
    assert html.startswith(f'<div class="bmx-msg" dir="{direction}" lang="{"ar" if direction == "rtl" else "en"}">')


@pytest.mark.parametrize("previous,direction", [(None, "ltr"), ("en", "ltr"), ("ar", "rtl")])
def test_a_message_without_words_keeps_the_conversations_direction(previous, direction):
    assert render_message("500 mg?", previous).html.split('"')[3] == direction


def test_code_does_not_decide_the_direction_and_stays_left_to_right():
    text = ("اكتب لي هذا البرنامج من فضلك\n\n```python\nfor patient in patients:\n"
            "    print(patient.name, patient.dose)\n```\n\nالجرعة `ibuprofen 400 mg` مرتين")
    html = render_message(text).html
    assert 'dir="rtl"' in html.split(">")[0]
    assert '<pre dir="ltr"><code class="language-python">' in html
    assert '<code dir="ltr">ibuprofen 400 mg</code>' in html


def test_indented_code_blocks_are_left_to_right_too():
    assert '<pre dir="ltr"><code>x = 1' in render_message("مثال:\n\n    x = 1\n").html


def test_lists_numbers_and_tables_are_rendered():
    html = render_message("الأعراض:\n\n- حرارة 38.5\n- سعال\n\n| الدواء | الجرعة |\n|---|---|\n| باراسيتامول | 500 |").html
    assert "<ul>\n<li>حرارة 38.5</li>" in html
    assert "<table>" in html and "<td>باراسيتامول</td>" in html


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
])
def test_typed_markup_is_text_never_html(text):
    html = render_message(text).html
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html


def test_line_breaks_are_kept():
    assert "ما هو فقر الدم؟<br />\nهل هو خطير؟" in render_message("ما هو فقر الدم؟\nهل هو خطير؟").html
