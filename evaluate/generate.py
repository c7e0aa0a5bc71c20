"""Answers for an open task from any card, adapter or endpoint, resumable.

    python -m evaluate.generate --model preview --task bimed-mbench --lang ar --out answers/
    python -m evaluate.generate --model openai:bimedix2@http://gpu-box:8000/v1 --task vqa-rad \\
        --lang en --data VQA_RAD/ --image-dir VQA_RAD/images --out answers/

Every answer comes from `engine.reply.reply`, the call behind the chat, the arena and the
server, so the prompt format, the reply-language policy and history fitting are the app's.
Items are answered in batches: a local model generates a batch as one padded batch
(engine/batch.py), a remote one gets the batch's requests at once (the server batches
them, as vLLM does). Each finished batch is appended to
`OUT/<task>-<lang>-<model>.jsonl` and flushed, so after a crash a rerun skips what is
there. A conversation's turns are replayed as the arena does: each turn is answered with
the model's own earlier replies in the history.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Optional, Sequence

import typer

from engine.engines import ENGINE_HELP
from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.messages import Message
from engine.prompt_input import reads_images
from engine.reply_stream import ReplyOptions
from evaluate.answers import AnswerRecord, answers_path, append_answers, read_answers
from evaluate.open_tasks import TASK_NAMES, OpenItem, load_open_task

# Greedy and short enough for a CPU, long enough for BiMed-MBench's detailed descriptions.
DEFAULT_MAX_NEW_TOKENS = 256


@dataclass
class RunSummary:
    path: Path
    items: int  # asked for (after --limit)
    skipped: int  # already in the file
    answered: int = 0
    failed: list[str] = field(default_factory=list)  # "item_id: reason"
    images_missing: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_settings(options: ReplyOptions, context_window: int) -> dict:
    """What a line records of how it was answered (a resumed run must match it)."""
    return {**asdict(options.settings), "reply_language": options.reply_language, "adapter": options.adapter,
            "system_prompt": options.system_prompt, "context_window": context_window}


def generate_answers(model, items: Sequence[OpenItem], out_path: Path, options: ReplyOptions, *,
                     model_name: str, adapter_name: str | None = None, image_dir: Path | None = None,
                     batch_size: int = 8, progress: bool = True) -> RunSummary:
    """Answer `items` not yet in `out_path`, appending each finished batch to it."""
    settings = run_settings(options, model.context_window)
    done = read_answers(out_path)
    _check_same_settings(done, settings, out_path)
    answered = {record.item_id for record in done}
    todo = [item for item in items if item.item_id not in answered]
    summary = RunSummary(out_path, len(items), len(items) - len(todo))
    started = time.monotonic()
    bar = _progress_bar(len(items), summary.skipped, progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        records = [AnswerRecord.pending(item, model_name, adapter_name, settings) for item in batch]
        finished = answer_batch(model, batch, records, options, image_dir, summary)
        append_answers(out_path, finished)
        summary.answered += len(finished)
        bar.update(len(batch))
    bar.close()
    summary.seconds = time.monotonic() - started
    return summary


def _check_same_settings(done: list[AnswerRecord], settings: dict, path: Path) -> None:
    differing = next((record for record in done if record.settings != settings), None)
    if differing is not None:
        changed = sorted(k for k in settings.keys() | differing.settings.keys()
                         if settings.get(k) != differing.settings.get(k))
        raise ValueError(f"{path} holds answers made with other settings ({', '.join(changed)}): "
                         "resume with the same options, or write to another --out")


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, unit="item", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def answer_batch(model, items: Sequence[OpenItem], records: list[AnswerRecord], options: ReplyOptions,
                 image_dir: Path | None, summary: RunSummary) -> list[AnswerRecord]:
    """Answer every turn of every item; returns the records of the items that did not fail."""
    histories = [[] for _ in items]
    first_images = [_image_for(item, image_dir, summary) for item in items]
    alive = list(range(len(items)))
    results: dict[int, dict] = {index: {"answers": [], "finish": [], "prompt": 0, "completion": 0,
                                        "seconds": 0.0, "language": None} for index in alive}
    for turn in range(max(len(item.turns) for item in items)):
        asking = [i for i in alive if turn < len(items[i].turns)]
        for i in asking:
            # A model that cannot see images is refused one (engine.prompt_input): it answers the text.
            images = first_images[i] if turn == 0 and reads_images(model) else ()
            histories[i].append(Message("user", items[i].turns[turn], images))
        asked = [_item_options(items[i], options) for i in asking]
        for i, outcome in zip(asking, replies_together(model, [histories[i] for i in asking], asked)):
            if isinstance(outcome, UserFacingError):
                summary.failed.append(f"{items[i].item_id}: {outcome.message('en')}")
                alive.remove(i)
                continue
            text, reply, seconds = outcome
            histories[i].append(Message("assistant", text))
            result = results[i]
            result["answers"].append(text)
            result["finish"].append(reply.finish_reason)
            result["prompt"] += reply.prompt_tokens
            result["completion"] += reply.completion_tokens
            result["seconds"] += seconds
            result["language"] = reply.language
    return [_finished(records[i], results[i], bool(first_images[i]) and reads_images(model)) for i in alive]


def _item_options(item: OpenItem, options: ReplyOptions) -> ReplyOptions:
    """The run's options, except where an item's reference is in another language than the
    task (an Arabic instruction over an English-only report): the reply follows the reference."""
    wanted = item.meta.get("reference_lang")
    return replace(options, reply_language=wanted) if wanted and wanted != options.reply_language else options


def _finished(record: AnswerRecord, result: dict, image_sent: bool) -> AnswerRecord:
    return replace(record, answers=result["answers"], finish_reasons=result["finish"], image_sent=image_sent,
                   prompt_tokens=result["prompt"], completion_tokens=result["completion"],
                   reply_language=result["language"], seconds=round(result["seconds"], 3))


def _image_for(item: OpenItem, image_dir: Path | None, summary: RunSummary) -> tuple:
    """The item's image decoded, when there is an image folder and the file is in it."""
    folder = image_dir or (Path(item.meta["image_dir"]) if item.meta.get("image_dir") else None)
    if item.image is None or folder is None:
        return ()
    path = folder / item.image
    if not path.is_file():
        summary.images_missing.append(item.image)
        return ()
    from engine.images import load_image

    return (load_image(path),)


def replies_together(model, histories: list[list[Message]], options: Sequence[ReplyOptions]) -> list:
    """One reply per history (each with its options), asked for together: (text, Reply,
    seconds) or the UserFacingError that refused or ended it."""
    from engine.batch import BatchingTokens
    from engine.reply import reply

    # A local model generates the histories as one batch; a remote one ignores the backend
    # and gets the requests at once, since they are read together below.
    batching = BatchingTokens()
    started: list = []
    with batching.together():
        for history, asked in zip(histories, options):
            try:
                started.append(reply(model, history, asked, backend=batching))
            except UserFacingError as error:
                started.append(error)
    with ThreadPoolExecutor(max_workers=max(1, len(histories)), thread_name_prefix="bimedix-eval") as pool:
        return list(pool.map(_read_whole, started))


def _read_whole(answer):
    if isinstance(answer, UserFacingError):
        return answer
    began = time.monotonic()
    try:
        for _ in answer:
            pass
    except UserFacingError as error:
        return error
    return answer.text.strip(), answer, time.monotonic() - began


app = typer.Typer(add_completion=False)


@app.command()
def main(
    model: Annotated[str, typer.Option(help="card name, checkpoint directory, openai:MODEL@URL, or a name in --endpoints")],
    task: Annotated[str, typer.Option(help=f"one of {', '.join(TASK_NAMES)}")],
    out: Annotated[Path, typer.Option(help="folder for <task>-<lang>-<model>.jsonl")],
    lang: Annotated[str, typer.Option(help="en or ar: the task's language")] = "en",
    adapter: Annotated[Optional[list[Path]], typer.Option(help="PEFT adapter directory (repeatable; the last answers)")] = None,
    limit: Annotated[Optional[int], typer.Option(help="at most N items: a seeded random sample, in file order")] = None,
    sample_seed: Annotated[int, typer.Option(help="seed of the --limit sample")] = 1234,
    data: Annotated[Optional[Path], typer.Option(help="the task's file or folder (default for bimed-mbench: ../shared/data)")] = None,
    image_dir: Annotated[Optional[Path], typer.Option(help="folder of the task's images (default: the one the task's files name, if any); without one, questions go without images")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="items answered together")] = 8,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="longest answer per turn, in tokens")] = DEFAULT_MAX_NEW_TOKENS,
    temperature: Annotated[float, typer.Option(help="0 = greedy (reproducible)")] = 0.0,
    top_p: Annotated[float, typer.Option(help="nucleus sampling mass (temperature > 0)")] = 0.9,
    repetition_penalty: Annotated[float, typer.Option(help="> 1 discourages repetition")] = 1.1,
    seed: Annotated[Optional[int], typer.Option(help="sampling seed")] = None,
    reply_language: Annotated[Optional[str], typer.Option(help="auto, ar or en (default: --lang)")] = None,
    load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="quantize a local model to 4-bit")] = False,
    endpoints: Annotated[Optional[Path], typer.Option(help="YAML file of remote models")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="variable holding an openai: model's key")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    engine: Annotated[Optional[str], typer.Option("--engine", help=ENGINE_HELP)] = None,
) -> None:
    """Answer an open task's questions with one model; resumable (`--out` keeps the file)."""
    from engine.pool import open_model

    try:
        items = load_open_task(task, lang, data, limit, sample_seed)
        if image_dir is not None and not image_dir.is_dir():
            raise ValueError(f"--image-dir {image_dir} is not a folder")
        options = ReplyOptions(reply_language or lang,
                               GenerationSettings(temperature, top_p, max_new_tokens, repetition_penalty, seed))
        path = answers_path(out, task, lang, model)
        read_answers(path)  # a damaged file is said before the model loads
        loaded = open_model(model, [str(a) for a in adapter or []], load_in_4bit or None, None, endpoints, api_key_env,
                            engine)
        options = ReplyOptions(options.reply_language, options.settings, adapter=loaded.default_adapter)
        summary = generate_answers(loaded, items, path, options, model_name=model, image_dir=image_dir,
                                   adapter_name=loaded.default_adapter,
                                   batch_size=batch_size, progress=not quiet)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except UserFacingError as error:
        typer.echo(f"error: {error.message('en')}", err=True)
        raise typer.Exit(1) from None
    _report(summary)
    if summary.failed:
        raise typer.Exit(1)


def _report(summary: RunSummary) -> None:
    typer.echo(f"{summary.path}: {summary.answered} answered, {summary.skipped} already there, "
               f"{len(summary.failed)} failed, of {summary.items}; {summary.seconds:.1f} s")
    if summary.images_missing:
        typer.echo(f"{len(summary.images_missing)} images not found under --image-dir "
                   f"(answered without them): {', '.join(sorted(set(summary.images_missing))[:10])}")
    for line in summary.failed:
        typer.echo(f"failed: {line}", err=True)


if __name__ == "__main__":
    app()
