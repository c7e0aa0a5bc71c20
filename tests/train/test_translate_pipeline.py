"""`python -m train.translate` against a scripted OpenAI-compatible server (real HTTP,
canned translations and scores: a paid model's answers are what cannot run here): the
threshold and the rounds, refused translations, the glossary, seeded review draws,
resuming, failures, and the export rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from train.translate.__main__ import app
from train.translate.export import export_translations
from train.translate.store import TranslationStore

TRANSLATE, REFINE, SCORE = "[English sample]", "[Earlier translation]", "[Arabic translation to score]"


def conversation(case: str, question: str, answer: str, **extra) -> dict:
    return {"conversations": [{"from": "human", "value": f"{case}: {question}"}, {"from": "gpt", "value": answer}],
            **extra}


SAMPLES = [
    conversation("Case one", "I take warfarin 5 mg daily. Can I take aspirin?", "Avoid it; ask about your INR."),
    conversation("Case two", "My blood pressure is 150/95 mmHg. Is that high?", "Yes, above 140/90 mmHg is high."),
    conversation("Case three", "What is a myocardial infarction?", "A heart attack: blocked blood flow."),
]


def arabic(question: str, answer: str) -> str:
    return json.dumps({"turn:0": question, "turn:1": answer}, ensure_ascii=False)


def score(value: int, reasons: str = "") -> str:
    return json.dumps({"score": value, "reasons": reasons or f"scored {value}"})


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def translate(source: Path, out: Path, endpoint: str, *extra: str):
    return CliRunner().invoke(app, ["--source", str(source), "--kind", "sft", "--out", str(out),
                                    "--translator", endpoint, "--scorer", endpoint, "--quiet", "--concurrency", "2",
                                    *extra])


def report(out: Path) -> dict:
    return json.loads((out / "translation-report.json").read_text(encoding="utf-8"))


# Case one passes at once; case two is rescued by refinement; case three stays under the
# threshold for three rounds and goes to review.
ROUNDS_SCRIPT = {"rules": [
    {"contains": [SCORE, "الأول-أ"], "reply": score(92)},
    {"contains": [SCORE, "الثاني-أ"], "reply": score(60, "the unit is wrong")},
    {"contains": [SCORE, "الثاني-ب"], "reply": score(88)},
    {"contains": [SCORE, "الثالث-أ"], "reply": score(50)},
    {"contains": [SCORE, "الثالث-ب"], "reply": score(61)},
    {"contains": [SCORE, "الثالث-ج"], "reply": score(70, "still awkward")},
    {"contains": [REFINE, "الثاني-أ", "Score given to it (0-100): 60", "the unit is wrong"],
     "reply": arabic("الحالة الثاني-ب: ضغطي 150/95 mmHg. هل هو مرتفع؟", "نعم، فوق 140/90 mmHg مرتفع.")},
    {"contains": [REFINE, "الثالث-أ"], "reply": arabic("الحالة الثالث-ب: ما احتشاء عضلة القلب؟", "نوبة قلبية.")},
    {"contains": [REFINE, "الثالث-ب"], "reply": arabic("الحالة الثالث-ج: ما احتشاء عضلة القلب؟", "نوبة قلبية.")},
    {"contains": [TRANSLATE, "Case one"],
     "reply": arabic("الحالة الأول-أ: أتناول warfarin بجرعة 5 mg يوميًا. هل آخذ aspirin؟", "تجنّبه؛ اسأل عن INR.")},
    {"contains": [TRANSLATE, "Case two"],
     "reply": "```json\n" + arabic("الحالة الثاني-أ: ضغطي 150/95 mmHg. هل هو مرتفع؟",
                                    "نعم، فوق 140/90 mmHg مرتفع.") + "\n```"},
    {"contains": [TRANSLATE, "Case three"], "reply": arabic("الحالة الثالث-أ: ما الجلطة؟", "نوبة قلبية.")},
]}


def test_threshold_rounds_and_the_report(scripted, tmp_path):
    endpoint, stats = scripted(ROUNDS_SCRIPT)
    out = tmp_path / "out"
    result = translate(write_jsonl(tmp_path / "chats.jsonl", SAMPLES), out, endpoint, "--review-sample", "0")
    assert result.exit_code == 0, result.output
    store = TranslationStore(f"sqlite:///{out / 'translation.db'}")
    states = {s.id: (s.state, s.rounds_used, s.final_score) for s in store.samples()}
    assert states == {"chats:0": ("passed", 1, 92), "chats:1": ("passed", 2, 88), "chats:2": ("review", 3, 70)}
    rounds = store.rounds("chats:2")
    assert [r.score for r in rounds] == [50, 61, 70] and rounds[2].reasons == "still awkward"
    assert all(r.translator_prompt == ("translate@v1" if r.number == 1 else "refine@v1") for r in rounds)
    assert all(r.scorer_prompt == "score@v1" and r.scored_at is not None for r in rounds)
    assert "score 70 < 85 after 3 rounds" in store.sample("chats:2").review_reason
    figures = report(out)
    assert figures["under_threshold_first"] == pytest.approx(2 / 3)
    assert figures["mean_rounds"] == pytest.approx(2.0)
    assert figures["rescued_by_refinement"] == pytest.approx(0.5)
    assert figures["sent_to_review"] == pytest.approx(1 / 3)
    assert figures["usage"]["translator"]["calls"] == 6 and figures["usage"]["scorer"]["calls"] == 6
    assert stats()["requests"] == 12
    assert "under the threshold at first" in result.output and "66.7%" in result.output
    # Exported: the two that passed, in the conversations format the mixing takes.
    lines = [json.loads(x) for x in (out / "sft" / "chats.ar.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["translated_from"] for line in lines] == ["chats:0", "chats:1"]
    assert lines[1]["language"] == "ar" and lines[1]["conversations"][1] == {
        "from": "gpt", "value": "نعم، فوق 140/90 mmHg مرتفع."}

    again = translate(tmp_path / "chats.jsonl", out, endpoint, "--review-sample", "0")
    assert again.exit_code == 0, again.output
    assert stats()["requests"] == 12  # everything was answered: nothing asked again
    assert report(out)["mean_rounds"] == pytest.approx(2.0)


def test_lost_placeholders_and_numbers_are_refused_and_not_scored(scripted, tmp_path):
    rows = [conversation("Case four", "<image>\nThe dose was 2.5 mg. Is this fracture healing?", "Yes, at 6 weeks.",
                         image="xray-4.png"),
            conversation("Case five", "<image>\nWhat does this X-ray show?", "A fracture.", image="xray-5.png")]
    endpoint, stats = scripted({"rules": [
        {"contains": [SCORE, "الرابع-ب"], "reply": score(95)},
        {"contains": [REFINE, "الرابع-أ", "numbers lost: 2.5"],
         "reply": arabic("<image>\nالحالة الرابع-ب: كانت الجرعة 2.5 mg. هل الكسر يلتئم؟", "نعم، عند 6 أسابيع.")},
        {"contains": [TRANSLATE, "Case four"],
         "reply": arabic("<image>\nالحالة الرابع-أ: كانت الجرعة mg. هل الكسر يلتئم؟", "نعم، عند ٦ أسابيع.")},
        {"contains": [TRANSLATE, "Case five"], "reply": arabic("الحالة الخامس: ماذا تظهر الصورة؟", "كسر.")},
        {"contains": [REFINE, "Case five"], "reply": arabic("الحالة الخامس: ماذا تظهر الصورة؟", "كسر.")},
        {"contains": SCORE, "reply": score(99)},
    ]})
    out = tmp_path / "out"
    result = translate(write_jsonl(tmp_path / "cases.jsonl", rows), out, endpoint, "--max-rounds", "2")
    assert result.exit_code == 0, result.output
    store = TranslationStore(f"sqlite:///{out / 'translation.db'}")
    first, second = store.rounds("cases:0")
    # "mg" with no number before it is not the unit of a dose any more: both are reported.
    assert first.problems == ["turn:0: numbers lost: 2.5", "turn:0: units not kept as written: mg"]
    assert first.score is None and first.scorer_model is None
    assert second.problems == [] and second.score == 95  # ٦ is 6: Arabic-Indic digits are the same number
    lost = store.rounds("cases:1")
    assert all("<image> placeholders 1 in the source, 0 in the translation" in r.problems[0] for r in lost)
    assert store.sample("cases:1").state == "review"
    assert "refused after 2 rounds" in store.sample("cases:1").review_reason
    assert stats()["rules"] == {"0": 1, "1": 1, "2": 1, "3": 2}  # one score request: case four's round 2
    figures = report(out)
    assert figures["rounds_refused_by_check"] == {"number": 1, "placeholder": 2, "unit": 1}
    assert [json.loads(x)["translated_from"] for x in
            (out / "sft" / "cases.ar.jsonl").read_text(encoding="utf-8").splitlines()] == ["cases:0"]


def test_glossary_violations_are_reported_and_refined(scripted, tmp_path):
    glossary = tmp_path / "glossary.csv"
    glossary.write_text("english,arabic\nmyocardial infarction,احتشاء عضلة القلب|احتشاء العضلة القلبية\n"
                        "heart attack,نوبة قلبية\n", encoding="utf-8")
    endpoint, _ = scripted({"rules": [
        {"contains": [REFINE, "should be “احتشاء عضلة القلب / احتشاء العضلة القلبية”"],
         "reply": arabic("الحالة الثالث: ما احتشاء العضلة القلبية؟", "نوبة قلبية: انسداد تدفق الدم.")},
        {"contains": [TRANSLATE, "احتشاء عضلة القلب", "heart attack = نوبة قلبية"],
         "reply": arabic("الحالة الثالث: ما الجلطة القلبية؟", "نوبة قلبية: انسداد تدفق الدم.")},
        {"contains": SCORE, "reply": score(90)},
    ]})
    out = tmp_path / "out"
    result = translate(write_jsonl(tmp_path / "g.jsonl", SAMPLES[2:]), out, endpoint, "--glossary", str(glossary))
    assert result.exit_code == 0, result.output
    store = TranslationStore(f"sqlite:///{out / 'translation.db'}")
    first, second = store.rounds("g:0")
    assert first.glossary_violations == [
        "turn:0: “myocardial infarction” should be “احتشاء عضلة القلب / احتشاء العضلة القلبية”"]
    assert first.score is None and second.glossary_violations == [] and second.score == 90
    assert report(out)["rounds_with_glossary_violations"] == 1
    changed = translate(tmp_path / "g.jsonl", out, endpoint)  # without the glossary: other settings
    assert changed.exit_code == 2 and "glossary" in changed.output and "other settings" in changed.output


def test_review_draw_is_seeded_and_stable(scripted, tmp_path):
    rows = [conversation(f"Case {n}", f"Question number {n}?", f"Answer {n}.") for n in range(20)]
    source = write_jsonl(tmp_path / "many.jsonl", rows)
    endpoint, _ = scripted({"rules": [
        {"contains": SCORE, "reply": score(95)},  # first: a score request holds the English sample too
        {"contains": TRANSLATE, "echo_json": {"after": TRANSLATE, "prefix": "بالعربية: "}}]})

    def drawn(out: Path, seed: int) -> set[str]:
        result = translate(source, out, endpoint, "--review-sample", "0.2", "--seed", str(seed))
        assert result.exit_code == 0, result.output
        return {s.id for s in TranslationStore(f"sqlite:///{out / 'translation.db'}").review_queue()}

    first = drawn(tmp_path / "a", 7)
    assert len(first) == 4 and drawn(tmp_path / "b", 7) == first and drawn(tmp_path / "a", 7) == first
    assert drawn(tmp_path / "c", 8) != first
    assert report(tmp_path / "a")["review_queue"] == {"under_threshold": 0, "sampled_high_scorers": 4}
    # Drawn samples passed: exported unless a reviewer rejects them.
    assert report(tmp_path / "a")["export"]["exported"] == 20


def test_a_failed_call_resumes_without_asking_twice(scripted, tmp_path):
    source = write_jsonl(tmp_path / "r.jsonl", SAMPLES)
    failing, stats = scripted({"rules": [
        {"contains": [SCORE, "Case two"], "status": 500},
        {"contains": SCORE, "reply": score(90)},
        {"contains": TRANSLATE, "echo_json": {"after": TRANSLATE, "prefix": "بالعربية: "}}]})
    out = tmp_path / "out"
    first = translate(source, out, failing, "--limit", "1", "--max-attempts", "2")
    assert first.exit_code == 0, first.output
    assert stats()["requests"] == 2
    second = translate(source, out, failing, "--max-attempts", "2")
    assert second.exit_code == 1 and "1 samples failed" in second.output
    assert report(out)["pending"] == 1 and report(out)["failed"][0]["sample"] == "r:1"
    assert stats()["requests"] == 2 + 1 + 2 + 1 + 1  # case two: translated, scored twice; case three: once each

    healed, healed_stats = scripted({"rules": [
        {"contains": SCORE, "reply": score(90)},
        {"contains": TRANSLATE, "echo_json": {"after": TRANSLATE, "prefix": "بالعربية: "}}]})
    result = translate(source, out, healed)  # the same model id on another server: the same settings
    assert result.exit_code == 0, result.output
    assert healed_stats()["requests"] == 1  # only case two's score: its translation was stored
    assert report(out)["pending"] == 0 and report(out)["export"]["exported"] == 3


def test_export_takes_approved_and_unrejected_passes_only(scripted, tmp_path):
    endpoint, _ = scripted(ROUNDS_SCRIPT)
    out = tmp_path / "out"
    assert translate(write_jsonl(tmp_path / "chats.jsonl", SAMPLES), out, endpoint,
                     "--review-sample", "0").exit_code == 0
    store = TranslationStore(f"sqlite:///{out / 'translation.db'}")
    shown = store.rounds("chats:2")[-1].arabic
    fixed = {**shown, "turn:0": "الحالة الثالثة: ما احتشاء عضلة القلب؟"}
    store.record_review("chats:2", "Dr Salma", "approved", shown, fixed, "terminology")
    store.record_review("chats:0", "Dr Omar", "rejected", store.rounds("chats:0")[-1].arabic, None)
    summary = export_translations(store, out)
    assert summary["exported"] == 2 and summary["left_out"] == {"rejected by a reviewer": 1}
    lines = [json.loads(x) for x in (out / "sft" / "chats.ar.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["translated_from"] for line in lines] == ["chats:1", "chats:2"]
    assert lines[1]["conversations"][0]["value"] == "الحالة الثالثة: ما احتشاء عضلة القلب؟"
    review = store.reviews()["chats:2"]
    assert review.edited_keys == ["turn:0"] and review.reviewer == "Dr Salma"


def test_killed_mid_run_it_resumes_and_pays_for_nothing_twice(scripted, tmp_path):
    """kill -9 while calls are in flight: the rerun asks only what was never answered (at
    most the one call cut off by the kill is asked again)."""
    import signal
    import subprocess
    import sys
    import time

    rows = [conversation(f"Case {n}", f"Question number {n}?", f"Answer {n}.") for n in range(6)]
    source = write_jsonl(tmp_path / "k.jsonl", rows)
    endpoint, stats = scripted({"rules": [
        {"contains": SCORE, "reply": score(90), "delay": 0.3},
        {"contains": TRANSLATE, "echo_json": {"after": TRANSLATE, "prefix": "بالعربية: "}, "delay": 0.3}]})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "train.translate", "--source", str(source), "--kind", "sft", "--out", str(out),
               "--translator", endpoint, "--scorer", endpoint, "--concurrency", "1", "--quiet"]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while stats()["requests"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = stats()["requests"]
    assert 5 <= before < 12
    finished = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert 12 <= stats()["requests"] <= 13  # 6 translations + 6 scores, plus at most the call cut off
    assert report(out)["finished"] == 6 and report(out)["export"]["exported"] == 6


def test_bad_input_and_a_server_that_is_down_are_said_plainly(tmp_path):
    from evaluate.servers import free_port

    down = f"openai:m@http://127.0.0.1:{free_port()}/v1"
    broken = tmp_path / "medqa.jsonl"
    broken.write_text('{"question": "x", "options": {"A": "y"}, "answer_idx": "A"}\n{broken\n', encoding="utf-8")
    for source, kind, said in ((tmp_path / "missing.jsonl", "sft", "no such file"),
                               (broken, "mcqa", f"{broken}: not valid JSON"),
                               (broken, "poems", "--kind must be one of sft, mcqa")):
        result = CliRunner().invoke(app, ["--source", str(source), "--kind", kind, "--out", str(tmp_path / "o"),
                                          "--translator", down, "--scorer", down, "--quiet"])
        assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output
    source = write_jsonl(tmp_path / "one.jsonl", SAMPLES[:1])
    result = translate(source, tmp_path / "out", down, "--max-attempts", "1")
    assert result.exit_code == 1 and "1 samples failed (a rerun continues them)" in result.output
    assert "Connection error" in result.output and report(tmp_path / "out")["pending"] == 1
