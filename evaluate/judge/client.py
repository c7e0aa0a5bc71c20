"""The judge: any model on an OpenAI-compatible server, asked through the app's client.

    judge = JudgeClient(parse_remote("openai:gpt-4o-2024-08-06@https://api.openai.com/v1"),
                        cache=JudgmentCache("out/judge-cache.sqlite"))
    results = judge.run([JudgeRequest("item-3", prompt, prompt.render(...))])

- Cached: a request answered before (same judge model, prompt version and inputs) is read
  from the cache and costs nothing; each new answer is committed as it arrives.
- Bounded concurrency (`concurrency` requests in flight at once).
- Retries with exponential backoff (and the server's Retry-After) on 429, 5xx, timeouts
  and dropped connections; other errors (400, 401, 404) are final for that request.
- Tokens (the server's usage; an estimate where it sends none) and the estimated cost.
A request that still fails is returned with its error: the caller counts it, it is never
scored, and a rerun asks again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

from engine.endpoints import Endpoint, estimate_tokens, make_client
from evaluate.judge.cache import CachedJudgment, JudgmentCache, cache_key
from evaluate.judge.prompts import JudgePrompt

log = logging.getLogger(__name__)

# USD per million tokens (input, output), as published by the provider; others cost 0
# unless --price-in / --price-out say otherwise (a local server costs its electricity).
KNOWN_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-2024-08-06": (2.50, 10.00), "gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00), "gpt-4.1-mini": (0.40, 1.60), "gpt-4-turbo": (10.00, 30.00),
}
RETRYABLE_STATUS = {408, 409, 429}


@dataclass(frozen=True)
class JudgeRequest:
    key: str  # what the caller matches the result with (an item id and an order)
    prompt: JudgePrompt
    messages: list


@dataclass
class JudgeResult:
    request: JudgeRequest
    text: str | None = None
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    attempts: int = 0


@dataclass
class JudgeUsage:
    """What the judging cost: calls made and avoided, tokens, dollars (estimated)."""

    calls: int = 0  # requests sent to the judge (retries not counted)
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0  # calls whose server sent no usage: counted by estimate
    saved_prompt_tokens: int = 0  # tokens the cache answered for
    saved_completion_tokens: int = 0
    price_in: float = 0.0  # USD per million tokens
    price_out: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def cost_usd(self) -> float:
        return (self.prompt_tokens * self.price_in + self.completion_tokens * self.price_out) / 1e6

    @property
    def saved_usd(self) -> float:
        return (self.saved_prompt_tokens * self.price_in + self.saved_completion_tokens * self.price_out) / 1e6

    def to_dict(self) -> dict:
        requests = self.calls + self.cache_hits
        return {"calls": self.calls, "retries": self.retries, "cache_hits": self.cache_hits,
                "cache_hit_rate": self.cache_hits / requests if requests else None, "failures": self.failures,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "calls_with_estimated_tokens": self.estimated_tokens,
                "price_usd_per_million": {"input": self.price_in, "output": self.price_out},
                "estimated_cost_usd": round(self.cost_usd, 6), "saved_by_cache_usd": round(self.saved_usd, 6)}


class JudgeClient:
    def __init__(self, endpoint: Endpoint, cache: JudgmentCache, *, concurrency: int = 4, max_attempts: int = 6,
                 backoff_s: float = 1.0, max_backoff_s: float = 60.0, temperature: float = 0.0,
                 price: tuple[float, float] | None = None, max_tokens: int | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        """`max_tokens`: the longest judgment, overriding the prompt file's (a small local
        judge that rambles); part of the cache key like every other setting."""
        self.endpoint, self.cache = endpoint, cache
        self.client = make_client(endpoint, max_retries=0)  # the backoff is ours (429 and 5xx too)
        self.concurrency, self.max_attempts = max(1, concurrency), max(1, max_attempts)
        self.backoff_s, self.max_backoff_s, self.temperature = backoff_s, max_backoff_s, temperature
        self.max_tokens = max_tokens
        self.sleep = sleep
        price_in, price_out = price if price is not None else KNOWN_PRICES.get(endpoint.model, (0.0, 0.0))
        self.usage = JudgeUsage(price_in=price_in, price_out=price_out)

    @property
    def model(self) -> str:
        return self.endpoint.model

    def run(self, requests: Sequence[JudgeRequest], on_result: Callable[[JudgeResult], None] | None = None
            ) -> list[JudgeResult]:
        """Every request's result, in order; cached ones at once, the others `concurrency` at a time."""
        results: list[JudgeResult | None] = [None] * len(requests)
        pending = []
        for index, request in enumerate(requests):
            hit = self.cache.get(self._key(request))
            if hit is None:
                pending.append(index)
                continue
            results[index] = JudgeResult(request, hit.text, True, hit.prompt_tokens, hit.completion_tokens)
            self._count_hit(hit)
            if on_result:
                on_result(results[index])
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bimedix-judge") as pool:
            for index, result in zip(pending, pool.map(lambda i: self.ask(requests[i]), pending)):
                results[index] = result
                if on_result:
                    on_result(result)
        return results  # type: ignore[return-value]

    def answer(self, request: JudgeRequest) -> JudgeResult:
        """One request: from the cache when answered before, else asked (with retries).
        For callers whose next request depends on this answer (translate, then score)."""
        hit = self.cache.get(self._key(request))
        if hit is None:
            return self.ask(request)
        self._count_hit(hit)
        return JudgeResult(request, hit.text, True, hit.prompt_tokens, hit.completion_tokens)

    def _key(self, request: JudgeRequest) -> str:
        return cache_key(self.model, request.prompt.label, self._body(request))

    def _body(self, request: JudgeRequest) -> dict:
        return {"messages": request.messages, "max_tokens": self.max_tokens or request.prompt.max_tokens,
                "temperature": self.temperature}

    def ask(self, request: JudgeRequest) -> JudgeResult:
        """One request to the judge, retried on what a retry can cure; cached when answered."""
        result = JudgeResult(request)
        with self.usage._lock:
            self.usage.calls += 1
        for attempt in range(1, self.max_attempts + 1):
            result.attempts = attempt
            try:
                response = self.client.chat.completions.create(model=self.model, **self._body(request))
            except Exception as error:  # noqa: BLE001: sorted into retryable or final below
                delay = self._retry_delay(error, attempt)
                if delay is None:
                    result.error = _describe(error) + (f" (after {attempt} attempts)" if attempt > 1 else "")
                    break
                log.info("judge %s: %s; retry %d in %.1f s", self.model, _describe(error), attempt, delay)
                with self.usage._lock:
                    self.usage.retries += 1
                self.sleep(delay)
                continue
            return self._answered(result, response)
        with self.usage._lock:
            self.usage.failures += 1
        return result

    def _answered(self, result: JudgeResult, response) -> JudgeResult:
        choice = response.choices[0] if response.choices else None
        result.text = (choice.message.content if choice and choice.message else None) or ""
        usage = getattr(response, "usage", None)
        estimated = usage is None
        result.prompt_tokens = usage.prompt_tokens if usage else estimate_tokens(result.request.messages)
        result.completion_tokens = usage.completion_tokens if usage else estimate_tokens(
            [{"content": result.text}])
        with self.usage._lock:
            self.usage.prompt_tokens += result.prompt_tokens
            self.usage.completion_tokens += result.completion_tokens
            self.usage.estimated_tokens += estimated
        self.cache.put(self._key(result.request), self.model, result.request.prompt.label,
                       CachedJudgment(result.text, result.prompt_tokens, result.completion_tokens))
        return result

    def _count_hit(self, hit: CachedJudgment) -> None:
        with self.usage._lock:
            self.usage.cache_hits += 1
            self.usage.saved_prompt_tokens += hit.prompt_tokens
            self.usage.saved_completion_tokens += hit.completion_tokens

    def _retry_delay(self, error: Exception, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when retrying cannot help."""
        import openai

        if attempt >= self.max_attempts:
            return None
        if isinstance(error, openai.APIStatusError):
            if error.status_code not in RETRYABLE_STATUS and error.status_code < 500:
                return None
            after = _retry_after(error)
            if after is not None:
                return min(after, self.max_backoff_s)
        elif not isinstance(error, (openai.APIConnectionError, openai.APITimeoutError)):
            return None
        # Full jitter: workers that failed together do not come back together.
        return min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


def _retry_after(error) -> float | None:
    try:
        value = error.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None


def _describe(error: Exception) -> str:
    status = getattr(error, "status_code", None)
    return f"HTTP {status}: {getattr(error, 'message', error)}"[:300] if status else f"{type(error).__name__}: {error}"[:300]


def progress_bar(total: int, quiet: bool, label: str, unit: str = "call") -> Callable[[object], None]:
    """A callback for `JudgeClient.run`'s `on_result` (or any per-result hook) that counts
    results on a tqdm bar on stderr, closed at `total`."""
    import sys

    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit=unit, disable=quiet or not total, file=sys.stderr, dynamic_ncols=True)

    def update(_result) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()
    return update
