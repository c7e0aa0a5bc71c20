"""Each conversation's KV cache, kept between its turns, so a turn prefills only what is new.

Today's turn renders the whole history again; all of it but the newest turn was already
computed last turn. A conversation (its caller names it: `ReplyOptions.conversation`)
leaves its cache here when a reply ends: the token ids it covers (the prompt and the
reply as generated) and transformers' own `DynamicCache`. The next turn takes it back,
keeps the longest common prefix of token ids (compared, not assumed: a reply encoded
again can split into other tokens than the model generated), crops the rest
(`DynamicCache.crop`), and generates with it, so `generate` prefills only the suffix.

What may be reused is decided by the ids alone, with three guards:
- the cache belongs to one model and one adapter (its key); another is a fresh start;
- at least the last prompt token is computed again (generate needs its logits);
- an image's features are all cached or all computed again, and only for the same image
  (a fingerprint of its pixels: two images give the same placeholder tokens).
Everything else (Regenerate, a changed system prompt or reply language, turns dropped at
the front by history fitting, Clear) changes the ids, and the common prefix ends there.

Memory: the caches share one byte budget, least recently used evicted first; a cache in
use by a reply is not in the pool (one reply per conversation at a time) and comes back
when the reply ends. `forget(conversation)` frees one at once (a browser session ended).
Off where nothing survives between calls (a ZeroGPU worker) and for remote models (their
server caches: vLLM's automatic prefix caching).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

log = logging.getLogger(__name__)

DEFAULT_SHARE_OF_FREE_MEMORY = 0.2  # of what the device has free when the budget is first needed
DEFAULT_MAX_MB = 4096
FORGOTTEN_KEPT = 10_000


@dataclass
class CachedPrefix:
    """One conversation's cache: the ids it covers, and what it was computed with."""

    model_key: str
    adapter: str | None
    token_ids: tuple[int, ...]
    cache: object  # transformers.DynamicCache
    image_keys: tuple[str, ...] = ()  # fingerprints of the images in `token_ids`, in order
    reused: int = 0  # positions of its prompt that came from the previous turn's cache
    nbytes: int = field(default=0)


@dataclass(frozen=True)
class ReusePlan:
    """What a turn reuses: `length` cached positions, the images among them."""

    length: int
    cached_images: int


def image_key(image) -> str:
    """A fingerprint of a decoded image's pixels (MedicalImage or PIL image)."""
    picture = getattr(image, "image", image)
    digest = hashlib.blake2b(picture.tobytes(), digest_size=16)
    digest.update(f"{picture.mode}{picture.size}".encode())
    return digest.hexdigest()


def common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second):
        if a != b:
            break
        length += 1
    return length


def image_blocks(input_ids: Sequence[int], image_token_id: int | None) -> list[tuple[int, int]]:
    """[start, end) of each run of image tokens: one per image, in prompt order."""
    if image_token_id is None:
        return []
    blocks, start = [], None
    for position, token in enumerate(input_ids):
        if token == image_token_id and start is None:
            start = position
        elif token != image_token_id and start is not None:
            blocks.append((start, position))
            start = None
    if start is not None:
        blocks.append((start, len(input_ids)))
    return blocks


def plan_reuse(entry: CachedPrefix, input_ids: Sequence[int], image_keys: Sequence[str],
               image_token_id: int | None, tokens_per_image: int = 1) -> ReusePlan:
    """How much of `entry` the prompt `input_ids` can reuse (see the module's guards)."""
    length = min(common_prefix(entry.token_ids, input_ids), len(input_ids) - 1)
    cached_images = 0
    # Consecutive images make one run of image tokens: split it per image.
    blocks = [(start + k * tokens_per_image, start + (k + 1) * tokens_per_image)
              for start, end in image_blocks(input_ids, image_token_id)
              for k in range((end - start) // tokens_per_image)]
    for index, (start, end) in enumerate(blocks):
        if start >= length:
            break
        same = index < len(entry.image_keys) and index < len(image_keys) and entry.image_keys[index] == image_keys[index]
        if end > length or not same:
            length = start  # the image is computed again, whole
            break
        cached_images += 1
    return ReusePlan(max(length, 0), cached_images)


def cache_nbytes(cache) -> int:
    total = 0
    for layer in getattr(cache, "layers", []):
        for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if tensor is not None and hasattr(tensor, "nbytes"):
                total += tensor.nbytes
    return total


class PrefixCaches:
    """The process's conversation caches under one byte budget (thread-safe)."""

    def __init__(self, budget_bytes: int | None = None):
        self._budget = budget_bytes  # None: from the device's free memory, when first needed
        self._entries: "OrderedDict[str, CachedPrefix]" = OrderedDict()  # least recently used first
        self._fits: dict[str, int] = {}  # conversation -> turns its last prompt dropped
        # Conversations given up: a reply still ending when its session closed must not put
        # its cache back. Such a reply ends within seconds: the newest ids are enough.
        self._forgotten: "OrderedDict[str, None]" = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def configure(self, budget_mb: float | None) -> None:
        """The budget in MiB (0: keep nothing; None: the default from free memory)."""
        with self._lock:
            self._budget = None if budget_mb is None else int(budget_mb * 2**20)
            self._evict()

    @property
    def enabled(self) -> bool:
        return self._budget != 0

    def budget_bytes(self, device=None) -> int:
        if self._budget is None:
            self._budget = default_budget(device)
            log.info("KV caches of conversations: %.0f MiB budget", self._budget / 2**20)
        return self._budget

    def take(self, conversation: str, model_key: str, adapter: str | None) -> CachedPrefix | None:
        """The conversation's cache, out of the pool (it comes back with `put`); None when
        there is none, or it belongs to another model or adapter (then it is freed)."""
        with self._lock:
            entry = self._entries.pop(conversation, None)
        if entry is None or (entry.model_key, entry.adapter) != (model_key, adapter):
            return None
        return entry

    def put(self, conversation: str, entry: CachedPrefix, device=None) -> None:
        """Keep `entry` as the conversation's newest cache; evict others to fit the budget."""
        entry.nbytes = cache_nbytes(entry.cache)
        budget = self.budget_bytes(device)
        with self._lock:
            self._entries.pop(conversation, None)
            if entry.nbytes <= budget and conversation not in self._forgotten:
                self._entries[conversation] = entry
            self._evict()

    def peek(self, conversation: str) -> CachedPrefix | None:
        """The conversation's cache, left in the pool (what its last turn reused)."""
        with self._lock:
            return self._entries.get(conversation)

    def remember_fit(self, conversation: str | None, dropped_turns: int) -> None:
        """History fitting's cut for the conversation's newest prompt (engine/reply.py)."""
        if conversation is not None:
            with self._lock:
                self._fits[conversation] = dropped_turns

    def last_fit(self, conversation: str | None) -> int | None:
        """How many turns the conversation's last prompt dropped (history fitting keeps that
        cut while it fits, so the cached prefix stays valid)."""
        if conversation is None:
            return None
        with self._lock:
            return self._fits.get(conversation)

    def forget(self, conversation: str | None) -> None:
        """Free a conversation's cache now (its browser session ended, or it was cleared)."""
        if conversation is None:
            return
        with self._lock:
            self._entries.pop(conversation, None)
            self._fits.pop(conversation, None)
            self._forgotten[conversation] = None
            while len(self._forgotten) > FORGOTTEN_KEPT:
                self._forgotten.popitem(last=False)

    def used_bytes(self) -> int:
        with self._lock:
            return sum(entry.nbytes for entry in self._entries.values())

    def __contains__(self, conversation: str) -> bool:
        with self._lock:
            return conversation in self._entries

    def _evict(self) -> None:
        budget = self._budget if self._budget is not None else float("inf")
        while self._entries and sum(e.nbytes for e in self._entries.values()) > budget:
            self._entries.popitem(last=False)
            self.evictions += 1


def default_budget(device=None) -> int:
    """DEFAULT_SHARE_OF_FREE_MEMORY of the device's free memory, at most DEFAULT_MAX_MB."""
    import torch

    if device is not None and getattr(device, "type", str(device)) == "cuda":
        free = torch.cuda.mem_get_info(device)[0]
    else:
        import psutil

        free = psutil.virtual_memory().available
    return int(min(free * DEFAULT_SHARE_OF_FREE_MEMORY, DEFAULT_MAX_MB * 2**20))


PREFIX_CACHES = PrefixCaches()  # the process's: generation puts, callers forget
