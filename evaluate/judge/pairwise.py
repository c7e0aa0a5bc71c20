"""Pairwise: two models on the same multi-turn conversations, judged in both orders.

Battles come from two answer files of the same task (evaluate/generate.py replays each
conversation as the arena does: every model answers each turn with its own earlier
replies), or from the arena's own human-voted battles (their stored transcripts), so the
judge's verdicts can be compared with the raters'.

Each battle is judged twice, A/B and then B/A. Verdicts that agree stand; a verdict that
flips with the order counts as a tie, and the share of flips is reported. Verdicts go into
the arena's vote store as votes of the rater `judge:<model>` (arena/judges.py), where the
leaderboard shows them beside the humans' with their agreement.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Sequence

from evaluate.answers import AnswerRecord
from evaluate.judge.client import JudgeRequest, JudgeResult
from evaluate.judge.prompts import load_prompt

ORDERS = ("ab", "ba")
_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
VERDICT_WINNER = {"A": "model_a", "B": "model_b", "C": "tie"}
SWAPPED = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}


@dataclass(frozen=True)
class Battle:
    key: str  # the item (task-lang-id) or the human battle it re-judges
    lang: str
    model_a: str
    model_b: str
    transcript_a: list  # [{"role", "content"}...]
    transcript_b: list
    source_battle_id: str | None = None
    human_winner: str | None = None


def battles_from_answers(first: Sequence[AnswerRecord], second: Sequence[AnswerRecord]) -> list[Battle]:
    """The items both files answered, as battles (first file's model as model_a)."""
    if not first or not second:
        raise ValueError("pairwise needs two answer files with answers in each")
    models = {first[0].model, second[0].model}
    if len(models) < 2:
        raise ValueError(f"both answer files are from {first[0].model}: pairwise compares two models")
    theirs = {(r.task, r.lang, r.item_id): r for r in second}
    battles = []
    for record in first:
        other = theirs.get((record.task, record.lang, record.item_id))
        if other is not None and other.turns == record.turns:
            battles.append(Battle(f"{record.task}-{record.lang}-{record.item_id}", record.lang, record.model,
                                  other.model, record.transcript(), other.transcript()))
    if not battles:
        raise ValueError("the two answer files share no item with the same questions")
    return battles


def battles_from_store(store, study: str | None) -> list[Battle]:
    """The human-voted battles of a study, to be judged again."""
    from arena.records import load_votes

    battles = []
    for vote in load_votes(store, study, include_flagged=False, raters="humans"):
        battles.append(Battle(f"battle-{vote.battle_id}", vote.conversation_language, vote.model_a, vote.model_b,
                              _plain(vote.transcript_a), _plain(vote.transcript_b), vote.battle_id, vote.winner))
    return battles


def _plain(transcript: list) -> list:
    return [{"role": m["role"], "content": m["content"]} for m in transcript]


def conversation_text(transcript: Sequence[dict]) -> str:
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in transcript)


def requests(battles: Sequence[Battle]) -> list[JudgeRequest]:
    prompt = load_prompt("pairwise")
    out = []
    for battle in battles:
        first, second = conversation_text(battle.transcript_a), conversation_text(battle.transcript_b)
        out.append(JudgeRequest(f"{battle.key}|ab", prompt, prompt.render(conversation_a=first, conversation_b=second)))
        out.append(JudgeRequest(f"{battle.key}|ba", prompt, prompt.render(conversation_a=second, conversation_b=first)))
    return out


def parse_verdict(text: str | None) -> str:
    """model_a, model_b or tie, as the judge saw the sides: its [[A]], [[B]] or [[C]]."""
    found = set(_VERDICT.findall(text or ""))
    if len(found) != 1:
        raise ValueError("no verdict [[A]], [[B]] or [[C]]" if not found else
                         f"several verdicts: {', '.join(sorted(found))}")
    return VERDICT_WINNER[found.pop()]


def combine(ab: str, ba_as_shown: str) -> tuple[str, str, bool]:
    """(winner, the B/A verdict mapped back to the battle's sides, flipped). A verdict that
    changes with the order is a tie."""
    ba = SWAPPED[ba_as_shown]
    return (ab, ba, False) if ab == ba else ("tie", ba, True)


def judgments(battles: Sequence[Battle], results: Sequence[JudgeResult]) -> list[dict]:
    by_key = {result.request.key: result for result in results}
    lines = []
    for battle in battles:
        ab, ba = by_key[f"{battle.key}|ab"], by_key[f"{battle.key}|ba"]
        line = {"item_id": battle.key, "lang": battle.lang, "model_a": battle.model_a, "model_b": battle.model_b,
                "source_battle_id": battle.source_battle_id, "human_winner": battle.human_winner,
                "text_ab": ab.text, "text_ba": ba.text, "cached": ab.cached and ba.cached}
        errors = [r.error for r in (ab, ba) if r.error is not None]
        if errors:
            lines.append({**line, "error": "; ".join(errors)})
            continue
        try:
            winner, ba_mapped, flipped = combine(parse_verdict(ab.text), parse_verdict(ba.text))
        except ValueError as error:
            lines.append({**line, "unparsable": str(error)})
            continue
        lines.append({**line, "verdict_ab": parse_verdict(ab.text), "verdict_ba": ba_mapped, "winner": winner,
                      "flipped": flipped})
    return lines


def scores(lines: Sequence[dict]) -> dict:
    """Per pair of models: wins, ties, losses and the share of order flips; per language too."""
    decided = [line for line in lines if "winner" in line]
    pairs: dict[str, Counter] = defaultdict(Counter)
    for line in decided:
        for view in (f"{line['model_a']} vs {line['model_b']}|all", f"{line['model_a']} vs {line['model_b']}|{line['lang']}"):
            pairs[view][line["winner"]] += 1
            pairs[view]["flips"] += line["flipped"]
    table = {}
    for view, counts in sorted(pairs.items()):
        pair, lang = view.rsplit("|", 1)
        total = counts["model_a"] + counts["model_b"] + counts["tie"]
        table.setdefault(pair, {})[lang] = {
            "a_wins": counts["model_a"], "b_wins": counts["model_b"], "ties": counts["tie"], "n": total,
            "flips": counts["flips"], "flip_rate": counts["flips"] / total if total else None}
    humans = [line for line in decided if line["human_winner"]]
    agreed = sum(_same_outcome(line["winner"], line["human_winner"]) for line in humans)
    return {"pairs": table, "flip_rate": sum(l["flipped"] for l in decided) / len(decided) if decided else None,
            "human_agreement": {"compared": len(humans), "agreed": agreed,
                                "rate": agreed / len(humans) if humans else None},
            "unparsable": {line["item_id"]: line["unparsable"] for line in lines if "unparsable" in line},
            "failed": {line["item_id"]: line["error"] for line in lines if "error" in line}}


def _same_outcome(judge: str, human: str) -> bool:
    return judge == ("tie" if human == "both_bad" else human)  # the ratings count both_bad as a tie


def record(store, study: str, judge_model: str, prompt_label: str, battles: Sequence[Battle],
           lines: Sequence[dict]) -> int:
    """Each decided verdict as a vote of `judge:<model>` (idempotent); returns how many."""
    from arena.judges import record_judge_verdict

    by_key = {battle.key: battle for battle in battles}
    recorded = 0
    for line in lines:
        if "winner" not in line:
            continue
        battle = by_key[line["item_id"]]
        record_judge_verdict(store, study, judge_model, battle.model_a, battle.model_b, line["winner"],
                             battle.transcript_a, battle.transcript_b, verdict_ab=line["verdict_ab"],
                             verdict_ba=line["verdict_ba"], prompt_version=prompt_label,
                             source_battle_id=battle.source_battle_id,
                             item_key=None if battle.source_battle_id else battle.key)
        recorded += 1
    return recorded


def markdown(scores_: dict) -> str:
    parts = ["### Pairwise verdicts (both orders; a flip is a tie)\n",
             "| Pair | Lang | A wins | B wins | Ties | Flips | n |", "|---|---|---|---|---|---|---|"]
    for pair, views in scores_["pairs"].items():
        for lang, row in views.items():
            parts.append(f"| {pair} | {lang} | {row['a_wins']} | {row['b_wins']} | {row['ties']} | "
                         f"{row['flip_rate']:.0%} | {row['n']} |")
    agreement = scores_["human_agreement"]
    if agreement["compared"]:
        parts.append(f"\nAgreement with the human raters: {agreement['agreed']} of {agreement['compared']} battles "
                     f"({agreement['rate']:.0%}).")
    parts.append(f"\nUnparsable judgments: {len(scores_['unparsable'])}; failed calls: {len(scores_['failed'])}.")
    return "\n".join(parts) + "\n"
