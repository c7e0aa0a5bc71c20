"""Does the reply come in the language the engine chose? Conversations that switch language.

    python -m evaluate.reply_language [--model preview] [--policy auto|ar|en] [--max-new-tokens 48] [--json]

Each conversation of `evaluate/data/reply_language.json` (written for this benchmark) alternates
Arabic and English from one user message to the next, with written assistant replies in
between. Every user message is answered once, with the messages before it as the history,
through the one engine call `engine.reply.reply`, greedily (temperature 0) and briefly. The
reply's language is read with engine/language.py (`detect_language`) and compared with the
language the engine chose (`Reply.language`): the language of the newest message under
"auto", the forced one under "ar"/"en". A reply with no language of its own (empty, digits,
punctuation) counts as a miss.

Printed: the share of replies in the chosen language, overall, per chosen language, and for
the messages that switch language (the hard case: the history is in the other language).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Iterator, Optional, Sequence

import typer

from engine.generation import GenerationSettings
from engine.language import detect_language
from engine.messages import Message
from engine.reply import ReplyOptions, reply

DATA = Path(__file__).parent / "data" / "reply_language.json"
GOAL = 0.95


@dataclass(frozen=True)
class Case:
    """One user message to answer, with the conversation before it."""

    conversation: str
    turn: int  # 0-based index of the user message in its conversation
    messages: tuple[Message, ...]  # ends with that user message

    @property
    def switched(self) -> bool:
        """The message is in another language than the user message before it."""
        users = [m.content for m in self.messages if m.role == "user"]
        return len(users) > 1 and detect_language(users[-1]).language != detect_language(users[-2]).language


@dataclass(frozen=True)
class Scored:
    conversation: str
    turn: int
    switched: bool
    target: str  # the language the engine chose for the reply
    detected: str | None  # the reply's language; None: it has none of its own
    reply: str

    @property
    def hit(self) -> bool:
        return self.detected == self.target


def load_conversations(path: Path = DATA) -> dict[str, list[Message]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {c["id"]: [Message.from_dict(m) for m in c["messages"]] for c in data["conversations"]}


def cases(conversations: dict[str, list[Message]]) -> Iterator[Case]:
    for name, messages in conversations.items():
        users = [index for index, m in enumerate(messages) if m.role == "user"]
        for turn, index in enumerate(users):
            yield Case(name, turn, tuple(messages[: index + 1]))


def language_of(text: str) -> str | None:
    """The reply's language by the engine's own rules; None for text with none."""
    guess = detect_language(text)
    return None if guess.method == "default" else guess.language


def score_case(model, case: Case, options: ReplyOptions) -> Scored:
    answer = reply(model, case.messages, options)
    for _ in answer:
        pass
    text = answer.text.strip()
    return Scored(case.conversation, case.turn, case.switched, answer.language, language_of(text), text)


def run(model, conversations: dict[str, list[Message]], options: ReplyOptions, progress=None) -> list[Scored]:
    results = []
    for case in cases(conversations):
        results.append(score_case(model, case, options))
        if progress:
            progress(results[-1])
    return results


def share(results: Sequence[Scored]) -> dict:
    hits = sum(r.hit for r in results)
    return {"hits": hits, "n": len(results), "share": round(hits / len(results), 4) if results else None}


def summarize(results: Sequence[Scored]) -> dict:
    """Shares overall, per chosen language and for switching messages."""
    by_target = defaultdict(list)
    for result in results:
        by_target[result.target].append(result)
    return {
        "overall": share(results),
        "per_language": {language: share(group) for language, group in sorted(by_target.items())},
        "switched": share([r for r in results if r.switched]),
        "misses": [asdict(r) for r in results if not r.hit],
    }


def report(summary: dict, model: str, policy: str) -> str:
    def line(label: str, part: dict) -> str:
        value = "n/a" if part["share"] is None else f"{part['share']:.1%}"
        return f"{label:<24} {value:>6}  ({part['hits']}/{part['n']})"

    lines = [f"reply language, model {model}, policy {policy}",
             line("overall", summary["overall"])]
    lines += [line(f"chosen {language}", part) for language, part in summary["per_language"].items()]
    lines.append(line("switching messages", summary["switched"]))
    for miss in summary["misses"]:
        lines.append(f"  miss {miss['conversation']}#{miss['turn']}: wanted {miss['target']}, got "
                     f"{miss['detected']}: {miss['reply'][:70]!r}")
    return "\n".join(lines)


def main(
    model: Annotated[str, typer.Option(help="model card or local directory")] = "preview",
    policy: Annotated[str, typer.Option(help="reply-language policy: auto, ar or en")] = "auto",
    max_new_tokens: Annotated[int, typer.Option(help="longest reply, in tokens")] = 48,
    data: Annotated[Path, typer.Option(help="conversations JSON file")] = DATA,
    adapter: Annotated[Optional[list[str]], typer.Option(help="PEFT adapter directory")] = None,
    load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="load the weights in 4-bit")] = False,
    engine: Annotated[Optional[str], typer.Option(
        help="transformers or vllm (engine/engines.py); default: $BIMEDIX_ENGINE, else the best this machine runs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Share of replies in the chosen language, on conversations that switch language."""
    from engine.pool import open_model

    try:
        loaded = open_model(model, adapter or [], load_in_4bit or None, engine=engine)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    settings = GenerationSettings(temperature=0, max_new_tokens=max_new_tokens)
    options = ReplyOptions(reply_language=policy, settings=settings, adapter=loaded.default_adapter)
    results = run(loaded, load_conversations(data), options,
                  progress=lambda r: print(".", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    summary = summarize(results)
    if as_json:
        print(json.dumps({"model": loaded.card.name, "policy": policy, **summary}, ensure_ascii=False))
    else:
        print(report(summary, loaded.card.name, policy))
    overall = summary["overall"]["share"] or 0.0
    print(f"share in the chosen language {overall:.1%} (goal >= {GOAL:.0%})", file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
