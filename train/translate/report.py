"""What the translation run did, from the database (so a resumed run reports the whole run).

The BiMediX paper's figures (§3.1.2): 8% under the threshold at first, 1.4 rounds on
average, 98% passing after refinement.
"""

from __future__ import annotations

from collections import Counter

from train.translate.store import TranslationStore

PAPER = {"under_threshold_first": 0.08, "mean_rounds": 1.4, "passed_after_refinement": 0.98}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _round_passed(row, threshold: int) -> bool:
    return not (row.problems or row.glossary_violations) and row.score is not None and row.score >= threshold


def _problem_kind(problem: str) -> str:
    text = problem.split(": ", 1)[-1] if not problem.startswith("structure") else problem
    for kind, marker in (("structure", "structure"), ("placeholder", "<image>"), ("number", "numbers lost"),
                         ("unit", "units not kept"), ("drug name", "drug names"), ("empty", "empty translation")):
        if marker in text:
            return kind
    return "other"


def translation_report(store: TranslationStore, threshold: int) -> dict:
    samples = store.samples()
    rounds = store.all_rounds()
    finished = [s for s in samples if s.state in ("passed", "review")]
    under_first = [s for s in finished if not _round_passed(rounds[s.id][0], threshold)]
    rescued = [s for s in under_first if s.state == "passed"]
    to_review = [s for s in finished if s.state == "review"]
    drawn = [s for s in samples if s.review_sampled]
    refused, violations = Counter(), 0
    for rows in rounds.values():
        for row in rows:
            refused.update({_problem_kind(p) for p in row.problems})
            violations += bool(row.glossary_violations)
    reviews = store.reviews().values()
    return {
        "samples": len(samples), "finished": len(finished), "pending": len(samples) - len(finished),
        "threshold": threshold,
        "under_threshold_first": _share(len(under_first), len(finished)),
        "mean_rounds": _share(sum(s.rounds_used for s in finished), len(finished)),
        "rescued_by_refinement": _share(len(rescued), len(under_first)),
        "passed_after_refinement": _share(sum(s.state == "passed" for s in finished), len(finished)),
        "sent_to_review": _share(len(to_review), len(finished)),
        "review_queue": {"under_threshold": len(to_review), "sampled_high_scorers": len(drawn)},
        "rounds": sum(len(r) for r in rounds.values()),
        "rounds_refused_by_check": dict(sorted(refused.items())),
        "rounds_with_glossary_violations": violations,
        "reviews": {"approved": sum(r.decision == "approved" for r in reviews),
                    "rejected": sum(r.decision == "rejected" for r in reviews)},
        "paper": PAPER,
    }


def format_report(report: dict) -> str:
    def pct(value):
        return "–" if value is None else f"{100 * value:.1f}%"

    rows = [
        ("samples (finished / pending)", f"{report['samples']} ({report['finished']} / {report['pending']})", ""),
        ("under the threshold at first", pct(report["under_threshold_first"]), pct(PAPER["under_threshold_first"])),
        ("mean rounds", "–" if report["mean_rounds"] is None else f"{report['mean_rounds']:.2f}",
         f"{PAPER['mean_rounds']}"),
        ("rescued by refinement (of those under at first)", pct(report["rescued_by_refinement"]), ""),
        ("passing after refinement", pct(report["passed_after_refinement"]), pct(PAPER["passed_after_refinement"])),
        ("sent to review (under the threshold after every round)", pct(report["sent_to_review"]), ""),
        ("high scorers drawn for review", str(report["review_queue"]["sampled_high_scorers"]), ""),
        ("rounds refused by a check", ", ".join(f"{k} {v}" for k, v in report["rounds_refused_by_check"].items())
         or "none", ""),
        ("rounds with glossary violations", str(report["rounds_with_glossary_violations"]), ""),
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'':{width}}  {'this run':>14}  {'paper':>7}", f"{'threshold ' + str(report['threshold']):{width}}"]
    lines += [f"{name:{width}}  {value:>14}  {paper:>7}" for name, value, paper in rows]
    return "\n".join(lines)
