"""What the translation review screen shows, as data and escaped HTML (no Gradio here).

A sample on the screen is a "view": a plain dict (it lives in the tab's gr.State, so it
must copy and compare cheaply) with everything the screen needs and nothing it must ask
the database for again: the segments, the Arabic the reviewer was shown, the text each
edit box starts from, why the sample is here, and its rounds.

Everything from the database (texts, reasons, reviewer names, the model's raw answer) is
untrusted: it is escaped here and shown as text, never as markup. Each block carries its
own direction: the English source is `dir="ltr"`, the Arabic `dir="rtl"`, and free text
of unknown language (reasons, names) `dir="auto"`.
"""

from __future__ import annotations

import re
from html import escape

from train.translate.checks import UNITS, drug_names
from train.translate.tables import Round, Sample

# The screen's own wording, English then Arabic (labels show both, joined by " · ").
STRINGS = {
    "title": ("Translation review", "مراجعة الترجمة"),
    "code": ("Your reviewer code", "رمزك الشخصي للمراجعة"),
    "start": ("Start / Next", "ابدأ / التالي"),
    "approve": ("Approve", "اعتماد"),
    "reject": ("Reject", "رفض"),
    "comment": ("Comment (optional)", "تعليق (اختياري)"),
    "english_column": ("English source", "النص الإنجليزي"),
    "arabic_column": ("Arabic translation (edit it here)", "الترجمة العربية (عدّلها هنا)"),
    "arabic_box": ("Arabic", "بالعربية"),
    "intro": ("Enter the personal reviewer code the organiser gave you and press Start / Next to get a sample.",
              "أدخل رمزك الشخصي للمراجعة الذي أعطاك إياه المنظِّم واضغط «ابدأ / التالي» لتحصل على عيّنة."),
    "queue_empty": ("The review queue is empty: every sample has been reviewed. Thank you!",
                    "قائمة المراجعة فارغة: رُوجعت كل العيّنات. شكرًا لك!"),
    "no_sample": ("There is no sample on the screen: press Start / Next first.",
                  "لا توجد عيّنة على الشاشة: اضغط «ابدأ / التالي» أولًا."),
    "only_this_one": ("No other sample is waiting; this one is still yours.",
                      "لا توجد عيّنة أخرى في الانتظار؛ ما زالت هذه العيّنة لك."),
    "saved_approved": ("Approved {sample} ({edited} segment(s) edited). Here is the next sample.",
                       "اعتُمدت {sample} (عُدّل {edited} مقطع). هذه العيّنة التالية."),
    "saved_rejected": ("Rejected {sample}. Here is the next sample.",
                       "رُفضت {sample}. هذه العيّنة التالية."),
    "why_review": ("Under the threshold after {rounds} round(s), final score {score}",
                   "دون العتبة بعد {rounds} جولة، والدرجة النهائية {score}"),
    "why_sampled": ("Random sample of high scorers (score {score})",
                    "عيّنة عشوائية من الترجمات عالية الدرجة (الدرجة {score})"),
    "unparsed": ("The model's last answer could not be read as the sample's segments, so the boxes start "
                 "from the English: write the Arabic. Its raw answer:",
                 "تعذّرت قراءة آخر إجابة للنموذج على شكل مقاطع العيّنة، لذا تبدأ الخانات بالنص الإنجليزي: "
                 "اكتب الترجمة العربية. إجابته كما هي:"),
    "reviewing_as": ("Reviewing as", "تراجع باسم"),
    "queue_left": ("Left in the review queue: {count}", "المتبقي في قائمة المراجعة: {count}"),
    "rounds_headers": (("Round", "Score", "Reasons", "Problems", "Glossary violations"),
                       ("الجولة", "الدرجة", "الأسباب", "المشكلات", "مخالفات المسرد")),
    "progress_headers": (("Reviewer", "Approved", "Rejected", "Edited"),
                         ("المراجع", "اعتُمدت", "رُفضت", "عُدّلت")),
}
UNTRANSLATED = "{key}: still the English source, not translated"  # joins the checks' (English) problems


def label(key: str) -> str:
    """A bilingual label: "Approve · اعتماد"."""
    english, arabic = STRINGS[key]
    return f"{english} · {arabic}"


def notice(key: str, **params) -> tuple[str, str]:
    english, arabic = STRINGS[key]
    return english.format(**params), arabic.format(**params)


# --- a sample as the screen holds it ------------------------------------------------------

def sample_view(sample: Sample, rounds: list[Round], reviewer: str) -> dict:
    """The view of a sample claimed by `reviewer`: segments in the sample's order, the
    Arabic shown (the last round's), and what each edit box starts from."""
    last = rounds[-1] if rounds else None
    shown = last.arabic if last is not None and isinstance(last.arabic, dict) else None
    start, from_english = {}, []
    for key, english in sample.english.items():
        arabic = (shown or {}).get(key)
        if isinstance(arabic, str):
            start[key] = arabic
        else:  # no usable Arabic for it: the reviewer writes it over the English
            start[key], from_english = english, [*from_english, key]
    return {
        "sample_id": sample.id, "task": sample.task, "kind": sample.kind, "reviewer": reviewer,
        "keys": list(sample.english), "labels": {k: sample.labels.get(k, k) for k in sample.english},
        "english": dict(sample.english), "before": shown, "start": start, "from_english": from_english,
        "raw": last.raw_text if last is not None and shown is None else None,
        "why": why_here(sample),
        "rounds": [round_row(r) for r in rounds],
    }


def why_here(sample: Sample) -> tuple[str, str, str]:
    """(English, Arabic, the pipeline's reason, in whatever language it was written)."""
    score = "—" if sample.final_score is None else sample.final_score
    if sample.state == "review":
        return (*notice("why_review", rounds=sample.rounds_used, score=score), (sample.review_reason or "").strip())
    return (*notice("why_sampled", score=score), "")


def round_row(row: Round) -> list[str]:
    return [str(row.number), "—" if row.score is None else str(row.score), row.reasons or "",
            "; ".join(map(str, row.problems or [])), "; ".join(map(str, row.glossary_violations or []))]


def edited_arabic(view: dict, texts) -> dict[str, str]:
    """The edit boxes' texts by segment key (a box the API left out counts as empty)."""
    texts = list(texts or [])
    return {key: texts[n] if n < len(texts) and isinstance(texts[n], str) else ""
            for n, key in enumerate(view["keys"])}


_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_UNIT_WORDS = frozenset(u.lower() for u in UNITS)


def untranslated(view: dict, arabic: dict[str, str], keep_terms: frozenset[str] = frozenset()) -> list[str]:
    """Segments whose box started from the English and still holds it, with words to
    translate (not only drug names, units and acronyms, which stay in Latin script)."""
    problems = []
    for key in view["from_english"]:
        text = arabic.get(key, "")
        if text.strip() != view["english"][key].strip():
            continue
        kept = drug_names(text, keep_terms)
        words = [w for w in _LATIN_WORD.findall(text)
                 if w.lower() not in kept and w.lower() not in _UNIT_WORDS and not w.isupper()]
        if words:
            problems.append(UNTRANSLATED.format(key=key))
    return problems


# --- HTML ------------------------------------------------------------------------------------

def bilingual_html(pair: tuple[str, str], kind: str = "info") -> str:
    """A message in both languages, each line in its own direction (kind: info, error, done)."""
    english, arabic = (escape(part) for part in pair)
    return (f'<div class="rv-message rv-{kind}" role="status"><p dir="ltr" lang="en">{english}</p>'
            f'<p dir="rtl" lang="ar">{arabic}</p></div>')


def english_html(label_text: str, text: str) -> str:
    """One English segment: its label and its text, escaped, left to right."""
    return (f'<div class="rv-en-label" dir="ltr">{escape(label_text)}</div>'
            f'<div class="rv-en" dir="ltr" lang="en">{escape(text)}</div>')


def sample_html(view: dict) -> str:
    """The sample's heading: id, task, reviewer, why it is here, its rounds, and the raw
    answer when no round's Arabic could be read."""
    # The reason is isolated (<bdi>): English words inside the Arabic line keep their order.
    why_en, why_ar, reason = (escape(part) for part in view["why"])
    if reason:
        why_en, why_ar = f"{why_en}: <bdi>{reason}</bdi>", f"{why_ar}: <bdi>{reason}</bdi>"
    parts = [
        f'<h3 dir="ltr">{escape(view["sample_id"])} <span class="rv-task">({escape(view["task"])}, '
        f'{escape(view["kind"])})</span></h3>',
        f'<p>{escape(label("reviewing_as"))}: <bdi>{escape(view["reviewer"])}</bdi></p>',
        f'<p class="rv-why" dir="ltr" lang="en">{why_en}</p><p class="rv-why" dir="rtl" lang="ar">{why_ar}</p>',
        table_html("rv-rounds", STRINGS["rounds_headers"], view["rounds"]),
    ]
    if view["raw"] is not None:
        note_en, note_ar = (escape(part) for part in STRINGS["unparsed"])
        parts.append(f'<div class="rv-raw"><p dir="ltr">{note_en}</p><p dir="rtl" lang="ar">{note_ar}</p>'
                     f'<pre dir="auto">{escape(view["raw"])}</pre></div>')
    return "\n".join(parts)


def table_html(table_id: str, headers: tuple[tuple[str, ...], tuple[str, ...]], rows: list[list]) -> str:
    """A small table with bilingual headers; each cell's text finds its own direction."""
    head = "".join(f"<th>{escape(en)}<br><span lang=\"ar\">{escape(ar)}</span></th>" for en, ar in zip(*headers))
    body = "".join("<tr>" + "".join(f'<td dir="auto">{escape(str(cell))}</td>' for cell in row) + "</tr>"
                   for row in rows)
    return f'<table id="{table_id}" class="rv-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def progress_html(left_in_queue: int, progress: list[dict]) -> str:
    """How many samples wait, and each reviewer's approved, rejected and edited counts."""
    english, arabic = (escape(part) for part in notice("queue_left", count=left_in_queue))
    rows = [[entry["reviewer"], entry["approved"], entry["rejected"], entry["edited"]] for entry in progress]
    return (f'<p id="rv-queue-left"><span dir="ltr">{english}</span> · <span dir="rtl" lang="ar">{arabic}</span></p>'
            + table_html("rv-progress-table", STRINGS["progress_headers"], rows))


def box_lines(text: str) -> int:
    """Rows for an edit box: enough for its text, within reason."""
    return max(2, min(12, len(text) // 70 + text.count("\n") + 1))


CSS = """
.rv-en { direction: ltr; text-align: left; unicode-bidi: isolate; white-space: pre-wrap; padding: 6px 2px; }
.rv-en-label { font-weight: 600; opacity: 0.8; }
.rv-ar textarea { direction: rtl; text-align: right; unicode-bidi: isolate; }
.rv-message { padding: 8px 12px; border-radius: 6px; background: #eef4ff; }
.rv-message.rv-error { background: #fdecea; }
.rv-message.rv-done { background: #e8f5e9; }
.rv-message p { margin: 2px 0; }
.rv-message p[dir="rtl"], .rv-why[dir="rtl"] { text-align: right; }
.rv-table { border-collapse: collapse; margin: 6px 0; }
.rv-table th, .rv-table td { border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; }
.rv-raw pre { white-space: pre-wrap; max-height: 16em; overflow: auto; }
"""
