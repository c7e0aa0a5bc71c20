"""Our evaluator against lm-evaluation-harness itself: same tiny model, same items, offline."""

from __future__ import annotations

import pytest

from evaluate.agreement import compare, harness_doc, run_harness
from evaluate.loglik import ScoringConfig
from evaluate.mcqa import score_items
from evaluate.tasks import MCQItem, load_items

TASKS = ("pubmedqa", "medmcqa", "medqa", "mmlu_anatomy")


@pytest.mark.parametrize("family", ["llama", "gemma"])
def test_per_item_logliks_and_accuracy_match_lm_eval(family, tiny_dirs, shared_data, tmp_path, no_network):
    from engine.loading import load_model

    model_dir = tiny_dirs(family)
    items = {task: load_items(task, "en", shared_data, limit=4, seed=11) for task in TASKS}
    harness = run_harness(str(model_dir), items, tmp_path, batch_size=3)
    loaded = load_model(str(model_dir))
    for task, task_items in items.items():
        ours = score_items(loaded, task_items, ScoringConfig(batch_size=5, progress=False))
        agreement = compare(ours, harness[task])
        assert agreement.prompt_mismatches == 0, task  # the harness built the very same prompts
        assert agreement.max_abs_loglik_diff < 1e-4, task
        assert agreement.prediction_mismatches == 0, task
        assert (agreement.ours_acc, agreement.ours_acc_norm) == (agreement.harness_acc, agreement.harness_acc_norm)
        if task == "pubmedqa":  # yes/no/maybe: both runs scored multi-token continuations
            assert any(len(set(r.tokens)) > 1 or r.tokens[0] > 1 for r in ours)


def test_compare_reports_a_difference():
    from evaluate.report import ItemResult

    ours = [ItemResult("medqa", "en", "1", 0, ["A", "B"], [-1.0, -2.0], context="c")]
    theirs = [{"logliks": [-1.0, -0.5], "acc": 0.0, "acc_norm": 0.0, "contexts": ["c", "other"]}]
    agreement = compare(ours, theirs)
    assert agreement.max_abs_loglik_diff == 1.5
    assert agreement.prediction_mismatches == 1 and agreement.prompt_mismatches == 1


def test_harness_docs_use_the_hub_schemas():
    item = MCQItem("medqa", "en", "7", "q", ("a", "b", "c", "d"), 2)
    assert harness_doc(item) == {"sent1": "q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d",
                                 "label": 2}
    with pytest.raises(ValueError, match="no task for 'usmle'"):
        harness_doc(MCQItem("usmle", "en", "1", "q", ("a", "b"), 0))
