"""`python -m engine chat|prompt|serve ...`: the engine from a terminal, or over HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.cards import resolve_card
from engine.engines import ENGINE_HELP
from engine.errors import InvalidSetting, UserFacingError
from engine.generation import GenerationSettings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="BiMediX Chat engine: terminal chat, prompt inspection, an OpenAI-compatible server.")

ModelOption = Annotated[str, typer.Option("--model", "-m", help="model card name (bimedix-bi, bimedix2-8b, preview, ...) or a local checkpoint directory")]
EngineOption = Annotated[Optional[str], typer.Option("--engine", help=ENGINE_HELP)]
FormatOption = Annotated[Optional[str], typer.Option("--format", help="prompt format name (vicuna, llama3_llava, transcript, chat_template); default: the card's")]


@app.command()
def chat(
    model: ModelOption = "preview",
    adapter: Annotated[Optional[list[Path]], typer.Option(help="PEFT adapter directory; repeat to load several (the last is active)")] = None,
    load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="quantize the weights to 4-bit nf4 (bitsandbytes)")] = False,
    lang: Annotated[str, typer.Option(help="reply language: auto (the language of each message), ar or en")] = "auto",
    prompt_format: FormatOption = None,
    temperature: Annotated[float, typer.Option(help="sampling temperature; 0 = greedy")] = 0.7,
    top_p: Annotated[float, typer.Option(help="nucleus sampling probability mass")] = 0.9,
    max_new_tokens: Annotated[int, typer.Option(help="longest reply, in tokens")] = 512,
    repetition_penalty: Annotated[float, typer.Option(help="> 1 discourages repetition")] = 1.1,
    seed: Annotated[Optional[int], typer.Option(help="sampling seed for reproducible replies")] = None,
    image: Annotated[Optional[list[Path]], typer.Option(help="image or DICOM file attached to the first message (repeatable)")] = None,
    endpoints: Annotated[Optional[Path], typer.Option(help="YAML file of remote models; --model may then name one")] = None,
    api_key_env: Annotated[Optional[str], typer.Option(help="variable holding the key of an openai:MODEL@URL model (default OPENAI_API_KEY)")] = None,
    engine: EngineOption = None,
) -> None:
    """Multi-turn chat: one message per line on stdin, replies streamed to stdout.

    Commands: `/image PATH` attaches an image (PNG, JPEG, WebP, TIFF, DICOM) to the next
    message, `/clear` forgets the conversation, `/adapter` lists the loaded adapters,
    `/adapter NAME` switches to one (`/adapter none`: the bare base model), `/help` lists
    the commands (also said at the start, in English and Arabic), `/exit` quits.
    Ctrl-C stops a reply. `--model openai:MODEL@BASE_URL` chats with a model on an
    OpenAI-compatible server (vLLM, `python -m engine serve`).
    """
    from engine.reply import ReplyOptions
    from engine.session import ChatSession

    if lang not in ("auto", "ar", "en"):
        raise typer.BadParameter("--lang must be auto, ar or en")
    try:  # a setting no model can take (--seed 2**80, --temperature nan): said, naming the option
        settings = GenerationSettings(temperature, top_p, max_new_tokens, repetition_penalty, seed)
    except InvalidSetting as error:
        raise typer.BadParameter(error.message("en"), param_hint="--" + error.name.replace("_", "-")) from None
    loaded = _open_model(model, [str(p) for p in adapter or []], load_in_4bit or None, prompt_format, endpoints,
                         api_key_env, engine)
    # The CLI's own state: its history (the session) and its options, the adapter included.
    session = ChatSession(loaded, ReplyOptions(lang, settings, adapter=loaded.default_adapter))
    _err(f"[{loaded.card.title}] {loaded.card.notice}".strip())
    _say_commands()
    interactive = sys.stdin.isatty()
    pending: list = [img for img in map(_read_image, image or []) if img is not None]
    while True:
        if interactive:
            _err("> ", end="")
        line = sys.stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        command = text.strip()
        if command == "/exit":
            break
        if command == "/help":
            _say_commands()
        elif command == "/clear":
            session.clear()
        elif command.startswith("/adapter"):
            session.options = _switch_adapter(loaded, session.options, command.split()[1:])
        elif command.startswith("/image "):
            attached = _read_image(Path(command[len("/image "):].strip()))
            pending += [attached] if attached is not None else []
        elif command:
            _reply(session, text, pending)
            pending = []


def _say_commands() -> None:
    """The chat's commands, in both languages: nothing else on the terminal shows them."""
    from engine.errors import notice

    _err(f"{notice('cli_commands', 'en')}\n{notice('cli_commands', 'ar')}")


def _open_model(model: str, adapters: list[str], load_in_4bit, prompt_format, endpoints, api_key_env,
                engine: str | None = None):
    """engine.pool.open_model, its failures said on the terminal."""
    from engine.engines import requested_engine
    from engine.pool import open_model

    try:
        requested_engine(engine)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--engine / BIMEDIX_ENGINE") from None
    try:
        return open_model(model, adapters, load_in_4bit, prompt_format, endpoints, api_key_env, engine)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--model") from None
    except UserFacingError as error:
        _err(error.message("en"))
        raise typer.Exit(1) from None


def _switch_adapter(loaded, options, args: list[str]):
    """The options with the adapter named in `args` (none: the bare base model); says
    which adapters there are and which one this chat uses."""
    from dataclasses import replace

    names = loaded.adapters.names()
    if args:
        name = None if args[0] == "none" else args[0]
        if name is not None and name not in names:
            _err(f"no adapter named {name!r}; loaded: {', '.join(names) or 'none'}")
        else:
            options = replace(options, adapter=name)
    _err(f"adapters: {', '.join(names) or 'none loaded'}; active: {options.adapter or 'none'}")
    return options


def _read_image(path: Path):
    """The image, or None after saying why it cannot be used (the chat goes on)."""
    from engine.images import load_image

    try:
        image = load_image(path)
    except UserFacingError as error:
        _err(f"{path.name}: {error.message('en')} / {error.message('ar')}")
        return None
    _err(f"(attached: {image})")
    return image


def _reply(session, text: str, images=()) -> None:
    from engine.language import conversation_language

    _say_emergency_notice(text)
    try:
        reply = session.send(text, images)
    except UserFacingError as error:
        users = [m.content for m in session.messages if m.role == "user"]
        _err(error.message(conversation_language([*users, text], session.options.reply_language)))
        return
    for line in reply.notices():
        _err(f"({line})")
    try:
        for chunk in reply:
            sys.stdout.write(chunk.text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        reply.stop()
        for _ in reply:  # drain: the worker thread ends and the history is kept
            pass
    except UserFacingError as error:
        _err(error.message(reply.language))
    sys.stdout.write("\n")
    sys.stdout.flush()


@app.command()
def prompt(
    messages: Annotated[Path, typer.Option(help="JSON file: a list of {role, content[, images]} messages, or {\"messages\": [...]}")],
    model: ModelOption = "preview",
    prompt_format: FormatOption = None,
) -> None:
    """Print the rendered prompt of a conversation and its token count (no weights loaded)."""
    from engine.encoding import encode_prompt
    from engine.formats import chat_template_format, get_format
    from engine.loading import load_tokenizer, weights_location
    from engine.messages import Message

    data = json.loads(messages.read_text(encoding="utf-8"))
    conversation = [Message.from_dict(m) for m in (data["messages"] if isinstance(data, dict) else data)]
    card = resolve_card(model, prompt_format)
    tokenizer = load_tokenizer(weights_location(card))
    fmt = chat_template_format(tokenizer) if card.prompt_format == "chat_template" else get_format(card.prompt_format)
    rendered = fmt.render(conversation)
    tokens = len(encode_prompt(tokenizer, rendered).input_ids)
    images = ""
    if rendered.image_count:
        from transformers import AutoConfig

        from engine.vision import tokens_per_image

        per_image = tokens_per_image(AutoConfig.from_pretrained(weights_location(card)))
        tokens += rendered.image_count * (per_image - 1)  # each placeholder expands to the features
        images = f"  images: {rendered.image_count} x {per_image} tokens"
    sys.stdout.write(rendered.text + "\n")
    sys.stdout.write(f"--- format: {fmt.name}  tokens: {tokens}{images}\n")


@app.command()
def serve(
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="model card name or local checkpoint directory; repeat to serve several (default: preview)")] = None,
    adapter: Annotated[Optional[list[Path]], typer.Option(help="PEFT adapter directory for the first model (repeatable); served as MODEL:ADAPTER")] = None,
    load_in_4bit: Annotated[bool, typer.Option("--load-in-4bit", help="quantize the weights to 4-bit nf4 (bitsandbytes)")] = False,
    prompt_format: Annotated[Optional[str], typer.Option("--format", help="prompt format of the first model (vicuna, llama3_llava, transcript, chat_template); default: its card's")] = None,
    host: Annotated[str, typer.Option(help="address to bind; beyond loopback it needs an API key or --no-auth")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key_env: Annotated[Optional[str], typer.Option(help="environment variable holding the API key clients must send (Authorization: Bearer KEY)")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="serve beyond loopback without a key, on purpose")] = False,
    max_concurrency: Annotated[int, typer.Option(help="replies generated at once, each alone, where they cannot be batched (adapters, images)")] = 1,
    max_queue: Annotated[int, typer.Option(help="requests held at once, generating or waiting; beyond it: HTTP 503")] = 16,
    engine: EngineOption = None,
    max_batch: Annotated[int, typer.Option(help="replies decoded together on one model, sharing each step (engine/continuous.py); 1: one at a time")] = 16,
) -> None:
    """An OpenAI-compatible server: GET /v1/models, POST /v1/chat/completions (streamed or not)."""
    import os

    import uvicorn

    from engine.admission import Admission
    from engine.network import is_loopback
    from engine.pool import public_names
    from engine.server import create_app

    key = os.environ.get(api_key_env) if api_key_env else None
    if api_key_env and not key:
        raise typer.BadParameter(f"the environment variable {api_key_env} is empty or not set", param_hint="--api-key-env")
    if not is_loopback(host) and not key and not no_auth:
        raise typer.BadParameter(f"--host {host} serves beyond this machine: give --api-key-env VAR, "
                                 "or --no-auth if it is meant to be open", param_hint="--host")
    if min(max_concurrency, max_queue, max_batch) < 1:
        raise typer.BadParameter("--max-concurrency, --max-queue and --max-batch must be at least 1")
    loaded = _load_for_serving(list(dict.fromkeys(model or ["preview"])), [str(p) for p in adapter or []],
                               load_in_4bit or None, max_concurrency, prompt_format, engine, max_batch)
    named = dict(zip(public_names(loaded).values(), loaded.values()))
    _err(f"serving {', '.join(named)} on http://{host}:{port}/v1")
    uvicorn.run(create_app(named, Admission(max_queue), key), host=host, port=port, log_level="info",
                timeout_graceful_shutdown=5)


def _load_for_serving(names: list[str], adapters: list[str], load_in_4bit, concurrency: int,
                      prompt_format: str | None, engine: str | None = None, batch_rows: int = 1) -> dict:
    from engine.backend import set_concurrency
    from engine.continuous import set_batching
    from engine.endpoints import RemoteModel
    from engine.engines import requested_engine
    from engine.pool import open_model

    try:
        requested_engine(engine)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--engine / BIMEDIX_ENGINE") from None
    loaded = {}
    for index, name in enumerate(names):
        try:
            loaded[name] = open_model(name, adapters if index == 0 else [], load_in_4bit,
                                      prompt_format if index == 0 else None, engine=engine)
        except (UserFacingError, ValueError) as error:
            detail = error.message("en") if isinstance(error, UserFacingError) else str(error)
            raise typer.BadParameter(detail, param_hint="--model") from None
        if not isinstance(loaded[name], RemoteModel):  # vLLM batches its own requests
            set_concurrency(loaded[name].key, concurrency)
            set_batching(loaded[name].key, batch_rows)
    return loaded


def _say_emergency_notice(text: str) -> None:
    """A message that describes an emergency gets the notice first, in both languages,
    whatever the model replies (engine/red_flags.py)."""
    from engine.red_flags import emergency_notice

    notice = emergency_notice(text)
    if notice is not None:
        _err(f"!! {notice.text_en}\n!! {notice.text_ar}")


def _err(text: str, end: str = "\n") -> None:
    sys.stderr.write(text + end)
    sys.stderr.flush()


if __name__ == "__main__":
    app()
