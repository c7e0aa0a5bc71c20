"""Log-likelihood of answer continuations through a loaded model, batched.

Reproduces lm-evaluation-harness 0.4.13 (`HFLM.loglikelihood`) token for token:
- trailing whitespace of the context moves to the continuation, then the pair is
  encoded as `enc(context + continuation)` split at `len(enc(context))`, with the
  tokenizer's own special tokens (BOS where the tokenizer adds one);
- the model reads `(context + continuation)[-(max_length + 1):][:-1]`, right-padded, no
  attention mask (padding on the right cannot reach earlier positions of a causal model);
- the score is the sum of the continuation tokens' log-softmax, plus whether each was
  the greedy (argmax) token.
Choices whose model inputs are prefixes of one another (e.g. the one-token letters
" A".." D" after the same question) share one forward pass, as the harness's logits cache
does. Only the positions that score a continuation are projected to the vocabulary
(`logits_to_keep`), which keeps batches of long prompts and 256k-token vocabularies small.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

import torch
from tqdm.auto import tqdm

log = logging.getLogger(__name__)
DEFAULT_MAX_LENGTH = 2048  # the harness's fallback when neither config nor tokenizer says


@dataclass(frozen=True)
class ScoringConfig:
    batch_size: int = field(default=16, metadata={"help": "most sequences per forward pass"})
    max_batch_tokens: int = field(default=16384, metadata={"help": "most (sequences x padded length) per pass"})
    max_logits_mb: float = field(default=1024.0, metadata={"help": "most float32 logits memory per pass"})
    max_length: int | None = field(default=None, metadata={"help": "context limit; None: the model's own"})
    progress: bool = field(default=True, metadata={"help": "show a tqdm progress bar"})


@dataclass(frozen=True)
class ChoiceScore:
    loglik: float
    is_greedy: bool
    tokens: int  # continuation tokens scored


@dataclass
class _Member:
    request: int
    choice: int
    end: int  # the continuation is predicted at input positions [end - len(cont), end)
    cont: list[int]


@dataclass
class _Run:
    tokens: list[int]
    members: list[_Member]


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) exactly as the harness's `_encode_pair` makes them."""
    if not context:
        raise ValueError("an empty context has no log-likelihood to condition on")
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation).input_ids
    context_ids = tokenizer(context).input_ids
    return context_ids, whole[len(context_ids):]


def model_max_length(model, tokenizer) -> int:
    """The context length the harness would use (`resolve_max_length`)."""
    config = model.config
    for candidate in (getattr(config, "text_config", None), config):
        for attribute in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(candidate, attribute, None) if candidate is not None else None
            if value:
                return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    return int(limit) if limit and limit < 1e12 else DEFAULT_MAX_LENGTH


def plan_runs(tokenizer, requests: Sequence[tuple[str, Sequence[str]]], max_length: int) -> list[_Run]:
    """The distinct model inputs needed to score every (context, continuations) request."""
    runs: list[_Run] = []
    truncated = 0
    for index, (context, continuations) in enumerate(requests):
        choices = []
        for choice, continuation in enumerate(continuations):
            context_ids, cont_ids = encode_pair(tokenizer, context, continuation)
            if not cont_ids or len(cont_ids) > max_length:
                raise ValueError(f"request {index} choice {choice}: continuation of {len(cont_ids)} "
                                 f"tokens cannot be scored within {max_length}")
            full = context_ids + cont_ids
            truncated += len(full) > max_length + 1
            choices.append((full[-(max_length + 1):][:-1], _Member(index, choice, 0, cont_ids)))
        runs += _share_inputs(choices)
    if truncated:
        log.warning("%d continuation(s) exceeded the context of %d tokens: prompts cut from the left",
                    truncated, max_length)
    return runs


def _share_inputs(choices: list[tuple[list[int], _Member]]) -> list[_Run]:
    """One run per input that is not a prefix of another choice's input."""
    runs: list[_Run] = []
    for tokens, member in sorted(choices, key=lambda pair: -len(pair[0])):
        member.end = len(tokens)
        host = next((run for run in runs if run.tokens[: len(tokens)] == tokens), None)
        if host is None:
            runs.append(_Run(tokens, [member]))
        else:
            host.members.append(member)
    return runs


def score_requests(model, tokenizer, requests: Sequence[tuple[str, Sequence[str]]],
                   config: ScoringConfig = ScoringConfig()) -> list[list[ChoiceScore]]:
    """Log-likelihood of each continuation given its context: one list per request."""
    max_length = config.max_length or model_max_length(model, tokenizer)
    runs = sorted(plan_runs(tokenizer, requests, max_length), key=lambda run: -len(run.tokens))
    results: list[list[ChoiceScore | None]] = [[None] * len(conts) for _, conts in requests]
    vocab = _vocab_size(model)
    total = sum(len(conts) for _, conts in requests)
    with tqdm(total=total, desc="log-likelihoods", unit="choice", disable=not config.progress) as bar:
        for batch in _batches(runs, config, vocab):
            for member, score in _score_batch(model, batch, _pad_id(tokenizer)):
                results[member.request][member.choice] = score
            bar.update(sum(len(run.members) for run in batch))
    return results  # type: ignore[return-value]


def _span(runs: list[_Run]) -> tuple[int, int]:
    starts = [m.end - len(m.cont) for run in runs for m in run.members]
    return min(starts), max(m.end for run in runs for m in run.members)


def _batches(runs: list[_Run], config: ScoringConfig, vocab: int):
    """Greedy batches of runs sorted longest first, within the three limits."""
    batch: list[_Run] = []
    for run in runs:
        candidate = batch + [run]
        low, high = _span(candidate)
        rows, longest = len(candidate), len(candidate[0].tokens)
        logits_mb = rows * (high - low) * vocab * 4 / 2**20  # float32 upper bound
        fits = (rows <= config.batch_size and rows * longest <= config.max_batch_tokens
                and logits_mb <= config.max_logits_mb)
        if batch and not fits:
            yield batch
            candidate = [run]
        batch = candidate
    if batch:
        yield batch


@torch.inference_mode()
def _score_batch(model, batch: list[_Run], pad_id: int):
    longest = len(batch[0].tokens)
    inputs = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    for row, run in enumerate(batch):
        inputs[row, : len(run.tokens)] = torch.tensor(run.tokens)
    low, high = _span(batch)
    logits = _forward(model, inputs.to(model.device), low, high)
    for row, run in enumerate(batch):
        for member in run.members:
            positions = slice(member.end - len(member.cont) - low, member.end - low)
            # float32 log-softmax of just the positions that score this continuation
            logprobs = torch.log_softmax(logits[row, positions].float(), dim=-1)
            target = torch.tensor(member.cont, device=logprobs.device)
            picked = logprobs.gather(-1, target[:, None]).squeeze(-1)
            greedy = bool((logprobs.argmax(-1) == target).all())
            yield member, ChoiceScore(float(picked.sum()), greedy, len(member.cont))


def _forward(model, inputs: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Logits at input positions [low, high) only, where the model supports choosing them."""
    keep = torch.arange(low, high, device=inputs.device)
    try:
        return model(input_ids=inputs, logits_to_keep=keep, use_cache=False).logits
    except TypeError:  # a model without logits_to_keep: project every position
        return model(input_ids=inputs, use_cache=False).logits[:, low:high]


def _vocab_size(model) -> int:
    config = model.config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text_config.vocab_size)


def _pad_id(tokenizer) -> int:
    # Any id works: right padding is never read by the positions that are scored.
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0
