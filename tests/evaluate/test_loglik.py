"""Log-likelihood scoring on a tiny model: tokenization, batching, shared inputs, truncation."""

from __future__ import annotations

import pytest
import torch

from evaluate.loglik import ScoringConfig, encode_pair, model_max_length, plan_runs, score_requests

REQUESTS = [
    ("Question: Which vitamin prevents scurvy?\nAnswer:", [" vitamin C", " vitamin D", " iron"]),
    ("السؤال: ما الهرمون الذي يخفض سكر الدم؟\nالإجابة:", [" الإنسولين", " الغلوكاغون"]),
    ("Question: pick one\nA. x\nB. y\nAnswer:", [" A", " B"]),
    ("Trailing space context: ", ["yes", "no"]),
]
QUIET = ScoringConfig(progress=False)


def reference_loglik(model, tokenizer, context: str, continuation: str) -> float:
    """One unbatched forward over the whole sequence, no cache, no logits_to_keep."""
    context_ids, cont_ids = encode_pair(tokenizer, context, continuation)
    ids = torch.tensor([context_ids + cont_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits.float(), -1)[0]
    positions = range(len(context_ids) - 1, len(context_ids) + len(cont_ids) - 1)
    return float(sum(logprobs[p, t] for p, t in zip(positions, cont_ids)))


def test_encode_pair_moves_trailing_space_and_splits_the_joint_encoding(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    context_ids, cont_ids = encode_pair(tokenizer, "Answer: ", "yes")
    assert context_ids == tokenizer("Answer:").input_ids  # the space went to the continuation
    assert context_ids + cont_ids == tokenizer("Answer: yes").input_ids
    assert context_ids[0] == tokenizer.bos_token_id  # the tokenizer's own BOS, as the harness


def test_batched_scores_equal_one_unbatched_forward_per_choice(tiny_llama):
    model, tokenizer = tiny_llama.model, tiny_llama.tokenizer
    scores = score_requests(model, tokenizer, REQUESTS, QUIET)
    for (context, continuations), choice_scores in zip(REQUESTS, scores):
        for continuation, score in zip(continuations, choice_scores):
            assert score.loglik == pytest.approx(reference_loglik(model, tokenizer, context, continuation), abs=1e-4)
            assert score.tokens == len(encode_pair(tokenizer, context, continuation)[1])
            assert score.loglik < 0


def test_batch_size_does_not_change_the_scores(tiny_llama):
    one = score_requests(tiny_llama.model, tiny_llama.tokenizer, REQUESTS, ScoringConfig(batch_size=1, progress=False))
    many = score_requests(tiny_llama.model, tiny_llama.tokenizer, REQUESTS, ScoringConfig(batch_size=64, progress=False))
    flat = [[s.loglik for r in scores for s in r] for scores in (one, many)]
    assert flat[0] == pytest.approx(flat[1], abs=1e-5)


def test_choices_with_the_same_model_input_share_one_forward_pass(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    letters = [("Question: q\nAnswer:", [" A", " B", " C", " D"])]
    # " A" is "Ġ" + "A" in the tiny tokenizer: all four inputs are the context + "Ġ"
    assert all(len(encode_pair(tokenizer, *letters[0][:1], c)[1]) == 2 for c in letters[0][1])
    assert len(plan_runs(tokenizer, letters, 1024)) == 1
    words = [("Question: q\nAnswer:", [" vitamin C", " iron"])]
    assert len(plan_runs(tokenizer, words, 1024)) == 2


def test_long_prompts_are_cut_from_the_left_like_the_harness(tiny_llama):
    model, tokenizer = tiny_llama.model, tiny_llama.tokenizer
    context = "Question: " + "chest pain " * 40 + "\nAnswer:"
    (cut,) = score_requests(model, tokenizer, [(context, [" yes"])], ScoringConfig(max_length=16, progress=False))
    context_ids, cont_ids = encode_pair(tokenizer, context, " yes")
    window = (context_ids + cont_ids)[-17:]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=torch.tensor([window[:-1]])).logits.float(), -1)[0]
    expected = sum(float(logprobs[16 - len(cont_ids) + i, t]) for i, t in enumerate(cont_ids))
    assert cut[0].loglik == pytest.approx(expected, abs=1e-4)


def test_is_greedy_marks_the_models_own_argmax_continuation(tiny_llama):
    model, tokenizer = tiny_llama.model, tiny_llama.tokenizer
    context = "Question: Which vitamin prevents scurvy?\nAnswer:"
    ids = torch.tensor([tokenizer(context).input_ids])
    with torch.no_grad():
        best = int(model(input_ids=ids).logits[0, -1].argmax())
    greedy_text = tokenizer.decode([best])
    other = " zzzz" if greedy_text != " zzzz" else " qqqq"
    scores = score_requests(model, tokenizer, [(context, [greedy_text, other])], QUIET)[0]
    assert encode_pair(tokenizer, context, greedy_text)[1] == [best]  # the text is that one token
    assert scores[0].is_greedy and not scores[1].is_greedy


def test_max_length_comes_from_the_model_config(tiny_llama):
    assert model_max_length(tiny_llama.model, tiny_llama.tokenizer) == tiny_llama.model.config.max_position_embeddings


def test_empty_context_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="empty context"):
        score_requests(tiny_llama.model, tiny_llama.tokenizer, [("", [" yes"])], QUIET)


@pytest.mark.parametrize("family", ["gemma", "mixtral", "llava"])
def test_every_model_family_scores_like_a_plain_forward(family, tiny_dirs):
    from engine.loading import load_model

    loaded = load_model(str(tiny_dirs(family)))
    (scores,) = score_requests(loaded.model, loaded.tokenizer, REQUESTS[1:2], QUIET)
    for continuation, score in zip(REQUESTS[1][1], scores):
        expected = reference_loglik(loaded.model, loaded.tokenizer, REQUESTS[1][0], continuation)
        assert score.loglik == pytest.approx(expected, abs=1e-4)


def test_4bit_weights_and_adapters_are_scored_through_the_engine(tiny_dirs, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from engine.loading import load_model

    model_dir = tiny_dirs("llama")
    full = load_model(str(model_dir))
    base = [s.loglik for s in score_requests(full.model, full.tokenizer, REQUESTS[:1], QUIET)[0]]

    quantized = load_model(str(model_dir), load_in_4bit=True)
    four_bit = [s.loglik for s in score_requests(quantized.model, quantized.tokenizer, REQUESTS[:1], QUIET)[0]]
    assert four_bit != base and four_bit == pytest.approx(base, rel=0.05)  # quantized, not broken

    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    adapted = load_model(str(model_dir), [str(tmp_path / "adapter")])
    with_adapter = [s.loglik for s in score_requests(adapted.model, adapted.tokenizer, REQUESTS[:1], QUIET)[0]]
    assert with_adapter != pytest.approx(base, abs=1e-3)
    expected = reference_loglik(adapted.model, adapted.tokenizer, REQUESTS[0][0], REQUESTS[0][1][0])
    assert with_adapter[0] == pytest.approx(expected, abs=1e-4)
