"""BiMediX Chat: parse options, build the engine, launch the UI (Hugging Face Spaces runs this).

Models: every --model (repeatable), else the comma-separated BIMEDIX_MODEL environment
variable, else the offline preview. The first is loaded at start and the others when a
person first chooses them in the model selector. If the first needs a GPU that is not
there, or its weights cannot be reached, the app starts on the preview model and says why
instead of failing to start. --adapter directories go with the first model.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import signal
import sys

from engine.admission import DEFAULT_LIMIT, PER_BROWSER, Admission
from engine.continuous import DEFAULT_BATCH_ROWS
from engine.endpoints import load_endpoints
from engine.engines import CHOICES, ENGINE_HELP, choose_engine
from engine.network import is_loopback
from engine.pool import ModelPool, ModelSpec, gpu_available
from engine.vllm_managed import vllm_found
from ui.temp_folder import (StartupRefused, check_port_free, make_private, prepare_temp_folder,
                             release_temp_folder, sweep_abandoned_uploads)

log = logging.getLogger("bimedix.app")


def model_specs(models: list[str], adapters: list[str], load_in_4bit: bool | None,
                default_adapter: str | None = None, engine: str = "transformers") -> list[ModelSpec]:
    names = [name.strip() for entry in models for name in entry.split(",") if name.strip()] or ["preview"]
    names = list(dict.fromkeys(names))  # a model named twice is offered once
    return [ModelSpec(name, tuple(adapters) if index == 0 else (), load_in_4bit,
                      default_adapter if index == 0 else None, engine)
            for index, name in enumerate(names)]


def exposure_problem(host: str, auth: list[str], no_auth: bool, environ=os.environ) -> str | None:
    """Why serving on `host` this way is refused, or None.

    Conversations are medical: an app reachable from the network needs a login. Loopback
    needs none; a Hugging Face Space (SPACE_ID set) is published through Hugging Face,
    which decides who sees it; `--no-auth` is the operator saying so on purpose.
    """
    if auth or no_auth or environ.get("SPACE_ID") or is_loopback(host):
        return None
    return (f"--host {host} serves the app to the network with no login. Give --auth USER:PASSWORD "
            "(repeatable), or --no-auth if it is meant to be open.")


def auth_pairs(values: list[str]) -> list[tuple[str, str]]:
    pairs = [tuple(value.split(":", 1)) for value in values]
    if any(len(pair) != 2 or not all(pair) for pair in pairs):
        raise ValueError("--auth takes USER:PASSWORD")
    return pairs


def stop_on_sigterm_as_on_ctrl_c() -> None:
    """SIGTERM (`kill`, a service manager, a Space going to sleep) ends the app as Ctrl-C
    does: Gradio closes its server and the exit handlers delete the instance folder (its
    uploads, previews and unfetched exports). Python's default for SIGTERM ends the process
    at once, without them."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def refuse_to_start(refusal: StartupRefused) -> None:
    """Exit with status 1 and the reason, in English and in Arabic: no traceback."""
    sys.exit(f"{refusal.message('en')}\n{refusal.message('ar')}")


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None,
                        help="model card name, local checkpoint directory, or a model on an OpenAI-compatible "
                             "server as openai:MODEL@BASE_URL; repeat to offer several (env BIMEDIX_MODEL, "
                             "comma-separated; default: preview)")
    parser.add_argument("--endpoints", default=None, metavar="FILE",
                        help="YAML file of remote models (name, base_url, model, api_key_env, multimodal, "
                             "context_length, tokenizer); each is offered beside the --model ones")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help="environment variable holding the key of the openai:MODEL@URL models "
                             "(default OPENAI_API_KEY)")
    parser.add_argument("--adapter", action="append", default=[], help="PEFT adapter directory for the first model (repeatable)")
    parser.add_argument("--default-adapter", default=None,
                        help="the adapter (of the first model) a new conversation starts with, by name "
                             "(default: none, the bare base model)")
    parser.add_argument("--engine", default=None, choices=CHOICES, help=ENGINE_HELP)
    parser.add_argument("--load-in-4bit", action="store_true", default=None, help="quantize to 4-bit nf4")
    parser.add_argument("--preload", action="store_true", default=bool(os.environ.get("SPACES_ZERO_GPU")),
                        help="load every model at start (always on ZeroGPU, whose GPU worker is forked "
                             "from the loaded process)")
    parser.add_argument("--kv-cache-mb", type=float, default=_env_float("BIMEDIX_KV_CACHE_MB"), metavar="MB",
                        help="memory for keeping each conversation's KV cache between its turns (least recently "
                             "used evicted first; 0: off; default: 20%% of free memory, at most 4096)")
    arena = parser.add_argument_group("arena", "blind side-by-side comparisons (Arena and Leaderboard tabs)")
    arena.add_argument("--no-arena", action="store_true", help="leave the Arena and Leaderboard tabs out")
    arena.add_argument("--arena-model", action="append", default=[],
                       help="a contestant: a --model name, or NAME:ADAPTER (repeatable; default: every model, "
                            "bare and with each of its adapters)")
    arena.add_argument("--arena-study", default=os.environ.get("BIMEDIX_ARENA_STUDY", "default"),
                       help="the study the votes belong to (env BIMEDIX_ARENA_STUDY)")
    arena.add_argument("--arena-code", default=os.environ.get("BIMEDIX_ARENA_CODE"),
                       help="access code raters must type to join (env BIMEDIX_ARENA_CODE)")
    arena.add_argument("--arena-admin-code", default=os.environ.get("BIMEDIX_ARENA_ADMIN_CODE"),
                       help="opens the organiser's progress view and export (env BIMEDIX_ARENA_ADMIN_CODE)")
    arena.add_argument("--arena-db", default=os.environ.get("BIMEDIX_ARENA_DB"),
                       help="SQLAlchemy URL or SQLite file for the votes (env BIMEDIX_ARENA_DB; default "
                            "~/.local/share/bimedix-chat/arena.db)")
    arena.add_argument("--trusted-proxy", action="append", default=[], metavar="CIDR",
                       help="a reverse proxy (address or network) whose X-Forwarded-For names the client that "
                            "attempt limits count; repeatable (env BIMEDIX_TRUSTED_PROXIES, comma-separated; on a "
                            "Hugging Face Space: the private networks its proxy comes from; default: none, every "
                            "client is the address it connects from)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--max-batch", type=int, default=DEFAULT_BATCH_ROWS, metavar="N",
                        help="replies to different people decoded together on one model, sharing each step "
                             f"(engine/continuous.py; 1: one at a time; default {DEFAULT_BATCH_ROWS})")
    parser.add_argument("--max-concurrency", type=int, default=1,
                        help="replies generated at once on each loaded model (default 1)")
    parser.add_argument("--max-queue", type=int, default=DEFAULT_LIMIT,
                        help="replies the app holds at once, being written or waiting for a model; beyond it "
                             f"people are told the server is busy (default {DEFAULT_LIMIT}); one per browser tab")
    parser.add_argument("--max-replies-per-browser", type=int, default=PER_BROWSER,
                        help=f"replies one browser (all its tabs) holds at once (default {PER_BROWSER})")
    parser.add_argument("--max-replies-per-address", type=int, default=None,
                        help="replies one network address holds at once, however many browsers it shows "
                             "(default: half of --max-queue; raise it for a room of people behind one router)")
    parser.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD",
                        help="require this login (repeatable); needed to serve beyond loopback")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve beyond loopback without a login, on purpose")
    args = parser.parse_args(argv)
    problem_with_host = exposure_problem(args.host, args.auth, args.no_auth)
    if problem_with_host:
        parser.error(problem_with_host)
    try:
        logins = auth_pairs(args.auth)
    except ValueError as error:
        parser.error(str(error))
    if min(args.max_queue, args.max_replies_per_browser, args.max_replies_per_address or 1, args.max_batch) < 1:
        parser.error("--max-queue, --max-replies-per-browser, --max-replies-per-address and --max-batch "
                     "must be at least 1")
    if args.kv_cache_mb is not None and args.kv_cache_mb < 0:
        parser.error("--kv-cache-mb must be 0 (off) or more")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request (a vLLM's health every 10 s)
    from arena.addresses import use_trusted_proxies

    try:  # before Gradio builds its server: uvicorn reads what this sets then
        use_trusted_proxies(args.trusted_proxy)
    except ValueError as error:
        parser.error(f"--trusted-proxy / BIMEDIX_TRUSTED_PROXIES: {error}")
    # Whatever umask the app was started with, what it writes (Gradio's upload folders,
    # previews, exports) is its user's alone: mkdir's modes are cut by the umask.
    os.umask(0o077)
    try:  # the port first: a second start must delete nothing of the instance serving there
        check_port_free(args.host, args.port)
        # Before Gradio is imported: its cache goes into this instance's own folder.
        temp = prepare_temp_folder(args.port)
    except StartupRefused as refusal:
        refuse_to_start(refusal)
    atexit.register(release_temp_folder, temp)
    stop_on_sigterm_as_on_ctrl_c()
    sweep_abandoned_uploads(temp / "gradio")

    from ui.arena_round import ArenaConfig
    from ui.assets import launch_options
    from ui.chat import build_chat_app
    from ui.downloads import Downloads

    try:
        endpoints = load_endpoints(args.endpoints) if args.endpoints else []
        models = args.model or ([] if endpoints else [os.environ.get("BIMEDIX_MODEL", "preview")])
        engine = choose_engine(args.engine, gpu_available, vllm_found)
        log.info("engine for local models: %s (%s)", engine.name, engine.reason)
        specs = model_specs(models, args.adapter, args.load_in_4bit, args.default_adapter,
                            engine.name) if models else []
        specs += [ModelSpec(endpoint.name) for endpoint in endpoints if endpoint.name not in {s.name for s in specs}]
        pool = ModelPool(specs, replies_per_model=args.max_concurrency, endpoints=endpoints,
                         api_key_env=args.api_key_env, batch_rows=args.max_batch, vllm_in_background=True)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    if args.kv_cache_mb is not None:
        from engine.prefix_cache import PREFIX_CACHES

        PREFIX_CACHES.configure(args.kv_cache_mb)
    _, problem = pool.start()
    if args.preload:
        for reason in pool.preload():
            log.warning("not offered: %s", reason)
    arena = None if args.no_arena else ArenaConfig(
        study=args.arena_study, access_code=args.arena_code or None, admin_code=args.arena_admin_code or None,
        database=args.arena_db, contestants=tuple(args.arena_model))
    downloads = Downloads(temp / "downloads")
    admission = Admission(args.max_queue, args.max_replies_per_browser, args.max_replies_per_address)
    demo = build_chat_app(pool, problem, arena=arena, downloads=downloads, admission=admission)
    # Replies are admitted and limited by the engine (engine/admission.py, engine/backend.py);
    # this covers the light events (relabelling, export, clear), and bounds what a client
    # going around the page can pile up.
    demo.queue(default_concurrency_limit=8, max_size=4 * args.max_queue + 32)
    options = launch_options(downloads, demo)
    make_private(temp)  # the examples' copy (ui/assets.py) keeps the looser mode of assets/
    try:
        demo.launch(server_name=args.host, server_port=args.port, auth=logins or None, **options)
    except OSError as error:  # the port was taken after the check above
        if "empty port" not in str(error):
            raise
        refuse_to_start(StartupRefused("port_in_use", port=args.port, other=args.port + 1))


if __name__ == "__main__":
    main()
