"""One rater's arena session: two anonymous sides answering the same conversation.

A contestant is a pool model, or a pool model with one of its adapters (`name:adapter`).
Each side is an ordinary Conversation, so history fitting, images, reply language and
Stop work exactly as in the chat; the round asks each side's replies for its own
contestant's adapter. Both sides stream at once, each from its own thread. Two
contestants sharing one base model (bare and with adapters) are generated as one batch
(engine/batch.py), since their model has one reply slot; where PEFT cannot mix their
adapters in one batch they take turns on it, and `takes_turns` says so beforehand.

No battle is left in a state that cannot be voted on or continued: an exchange in which
either side wrote nothing (Stop before its first words) is taken back from both sides,
and `can_vote` asks exactly what the store checks.

Votes go to the arena store (arena/) in one transaction with both transcripts; the
identities are revealed only by the receipt that comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator, Sequence

from arena import (ArenaError, ArenaStore, BattleInfo, RaterInfo, VoteReceipt, join_study, join_with_code,
                   record_vote, start_battle)
from arena.transcripts import has_reply, stored_transcript
from engine.batch import BatchingTokens, mixes_adapters
from engine.errors import UserFacingError
from engine.pool import ModelPool
from engine.reply import ReplyOptions, reads_images
from ui.conversation import Conversation, delete_originals
from ui.reply_threads import ReplyReaders


@dataclass(frozen=True)
class ArenaConfig:
    """How the Arena tab runs (app.py options)."""

    study: str = "default"
    access_code: str | None = None  # raters must type it to join
    admin_code: str | None = None  # opens the progress view and the export; none: closed
    database: str | None = None  # SQLAlchemy URL or SQLite path; None: the default file
    contestants: tuple[str, ...] = ()  # empty: every model and every model:adapter


def contestants(pool: ModelPool, configured: Sequence[str] = ()) -> list[str]:
    """The contestant ids: those configured, else each model bare and with each adapter
    it was started with (known without loading it)."""
    if configured:
        return list(dict.fromkeys(configured))
    ids = []
    for name in pool.names():
        ids.append(name)
        ids += [f"{name}:{_adapter_name(path)}" for path in pool.specs[name].adapters]
    return ids


def _adapter_name(path: str) -> str:
    from engine.adapters import adapter_name

    return adapter_name(path, [])


def split_contestant(pool: ModelPool, contestant: str) -> tuple[str, str | None]:
    """(pool model name, adapter or None). Model names may hold ':' (paths), so the
    adapter is what follows the last ':' only when the rest names a model."""
    if contestant in pool.specs:
        return contestant, None
    name, _, adapter = contestant.rpartition(":")
    if name in pool.specs and adapter:
        return name, adapter
    raise UserFacingError("unknown_model", model=contestant, available=", ".join(pool.names()))


class ArenaRound:
    """The rater, the current battle and its two sides (one browser session)."""

    def __init__(self, pool: ModelPool, store: ArenaStore, config: ArenaConfig, backend):
        self.pool, self.store, self.config, self.backend = pool, store, config, backend
        # Both sides' replies go through it, so that one exchange on one base model is one batch.
        self.batching = BatchingTokens(backend)
        self.takes_turns = False  # the two sides must share their model's slot one after the other
        # Why the latest exchange was taken back (a side wrote nothing), as a ui.strings key:
        # "arena_taken_back" (Stop came first) or "arena_empty_reply" (a model ended with
        # nothing); None: it was kept.
        self.taken_back: str | None = None
        self.rater: RaterInfo | None = None
        self.battle: BattleInfo | None = None
        self.sides: tuple[Conversation, Conversation] | None = None
        self.adapters: tuple[str | None, str | None] = (None, None)  # each side's, from its contestant
        self.receipt: VoteReceipt | None = None
        self.last_settings = None

    def join(self, display_name: str, access_code: str | None, personal_code: str | None = None) -> None:
        """Join with a personal code (the name then comes from the code; the study's shared
        code is not needed on top of one), else with a typed name and the study's code."""
        if personal_code and personal_code.strip():
            self.rater = join_with_code(self.store, self.config.study, personal_code)
        else:
            self.rater = join_study(self.store, self.config.study, display_name or "", access_code=access_code)
        self.new_round()

    def new_round(self) -> None:
        """Draw a fresh pair (sides randomized) and load both models if needed."""
        if self.rater is None:
            raise ArenaError("rater_not_found")
        self.discard()
        battle = start_battle(self.store, self.rater, contestants(self.pool, self.config.contestants))
        (name_a, adapter_a), (name_b, adapter_b) = (split_contestant(self.pool, contestant)
                                                    for contestant in (battle.model_a, battle.model_b))
        loaded_a, loaded_b = self.pool.get(name_a), self.pool.get(name_b)
        self.sides = (Conversation(loaded_a, self.batching), Conversation(loaded_b, self.batching))
        self.adapters = (adapter_a, adapter_b)
        self.takes_turns = loaded_a.key == loaded_b.key and not (
            self.batching.in_process and mixes_adapters(loaded_a, self.adapters))
        self.battle, self.receipt = battle, None

    @property
    def reads_images(self) -> bool:
        """Both sides read images: an image goes to both or to neither (one side would
        refuse it, engine/prompt_input.py), so the rater is told before anything starts."""
        return self.sides is not None and all(reads_images(side.loaded) for side in self.sides)

    @property
    def can_vote(self) -> bool:
        """Both sides have finished a reply with text in it, and no vote is in yet: what
        the store checks (arena.transcripts.has_reply), so the buttons are on exactly when
        a vote would be taken."""
        return (self.sides is not None and self.receipt is None and all(
            side.pending is None and has_reply(stored_transcript(side.messages[-1:])) for side in self.sides))

    def expect_reply(self) -> None:
        for side in self.sides or ():
            side.expect_reply()

    def take_stop_request(self) -> bool:
        """Whether Stop came while the message waited in the queue (see Conversation)."""
        return any([side.take_stop_request() for side in self.sides or ()])  # both sides forget it

    def send(self, text: str, files: Sequence[str], options: ReplyOptions) -> Iterator[None]:
        """Send the message to both sides (each with its own adapter) and yield each time
        either side has new text. Closing the iterator (Stop) stops both replies. If either
        side ends without text, the exchange is taken back from both (`taken_back`)."""
        if self.sides is None or self.receipt is not None:
            raise ArenaError("battle_not_found")
        a, b = self.sides
        before = (a.checkpoint(), b.checkpoint())
        self.taken_back = None
        with self.batching.together():  # both requests are made before either is generated
            replies = [a.send(text, files, replace(options, adapter=self.adapters[0]))]
            try:
                replies.append(b.send(text, files, replace(options, adapter=self.adapters[1])))
            except UserFacingError:
                replies[0].close()  # B refused the message: A's half of the exchange goes too
                a.finish()
                a.rollback(before[0])
                raise
        self.last_settings = options.settings
        delete_originals(files)  # both sides have read them: the conversations show previews
        try:
            yield from _merged(replies, self.sides)
        finally:
            self._keep_or_take_back(before, replies)

    def _keep_or_take_back(self, before, replies) -> None:
        """Keep the exchange only if both sides wrote something: a side stopped before its
        first words, or a model that ended its reply at once (its first token the end), would
        leave a battle that cannot be voted on (the store wants a reply on each side) and two
        conversations that no longer match."""
        if all(side.pending is None for side in self.sides) and not all(
                _answered(side, checkpoint) for side, checkpoint in zip(self.sides, before)):
            for side, checkpoint in zip(self.sides, before):
                side.rollback(checkpoint)
            stopped = any(reply.finish_reason == "stopped" for reply in replies)
            self.taken_back = "arena_taken_back" if stopped else "arena_empty_reply"

    def vote(self, winner: str, reason: str | None, rater_language: str | None) -> VoteReceipt:
        if self.rater is None or self.battle is None or self.sides is None:
            raise ArenaError("battle_not_found")
        if self.receipt is not None:
            raise ArenaError("already_voted")
        self.receipt = record_vote(
            self.store, self.battle.id, self.rater, winner, self.sides[0].messages,
            self.sides[1].messages, self.last_settings, reason=reason, rater_language=rater_language,
            leak_model_ids=[*contestants(self.pool, self.config.contestants),
                            *(self.pool.title(name) for name in self.pool.names())])
        return self.receipt

    def discard(self) -> None:
        for side in self.sides or ():
            side.discard()


def _answered(side: Conversation, checkpoint: tuple[int, int]) -> bool:
    """The side filed this exchange (after `checkpoint`) with a reply the store accepts."""
    return len(side.messages) > checkpoint[0] and has_reply(stored_transcript(side.messages[-1:]))


def _merged(replies, sides) -> Iterator[None]:
    """Run both replies, each in its own thread; yield after every chunk of either."""
    readers = ReplyReaders(replies)
    failure = None
    try:
        for kind, payload in readers.events():
            if kind == "error":
                failure = payload
            yield None
    finally:
        readers.close()  # Stop, or the page went away: both end at their next token
        for side, reply in zip(sides, replies):
            side.finish(reply)
    if failure is not None:
        raise failure
