"""Our MCQA scores against lm-evaluation-harness itself, on the same model and the same items.

    python -m evaluate.agreement --model preview --task pubmedqa --limit 100

Runs `lm_eval.simple_evaluate` (model "hf" on the model's local directory, the harness's
own task YAML with its `doc_to_text`, data from a local JSON Lines file of the chosen
items in the hub schema the YAML expects, log_samples on), then our evaluator through
the engine, and prints both accuracies and the largest per-item log-likelihood
difference. Nothing goes to the network: both runs read local files only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluate.report import ItemResult
from evaluate.tasks import TASKS, MCQItem, default_data_dir, load_items
from evaluate.tasks.templates import PUBMEDQA_CHOICES


HARNESS_YAML = {"pubmedqa": "pubmedqa/pubmedqa.yaml", "medmcqa": "medmcqa/medmcqa.yaml",
                "medqa_4options": "medqa/medqa.yaml"}


def harness_doc(item: MCQItem) -> dict:
    """An item in the hub schema of the harness task that scores it."""
    if item.task == "pubmedqa":
        return {"QUESTION": item.question, "CONTEXTS": list(item.contexts),
                "final_decision": PUBMEDQA_CHOICES["en"][item.gold], "id": item.item_id}
    if item.task == "medmcqa":
        return {"question": item.question, **dict(zip(("opa", "opb", "opc", "opd"), item.options)), "cop": item.gold}
    if item.task == "medqa":
        return {"sent1": item.question, **{f"ending{i}": o for i, o in enumerate(item.options)}, "label": item.gold}
    if item.task.startswith("mmlu_"):
        return {"question": item.question, "choices": list(item.options), "answer": item.gold}
    raise ValueError(f"lm-evaluation-harness has no task for {item.task!r}")


def harness_task_config(task_id: str, data_file: Path, cache_dir: Path) -> dict:
    """The harness's own YAML for the task, reading `data_file` instead of the hub."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    harness_task = TASKS[task_id].harness_task
    if harness_task is None:
        raise ValueError(f"lm-evaluation-harness has no task for {task_id!r}")
    relative = f"mmlu/default/{harness_task}.yaml" if task_id.startswith("mmlu_") else HARNESS_YAML[harness_task]
    path = Path(lm_eval.__file__).parent / "tasks" / relative
    config = load_yaml(path)
    for key in ("dataset_name", "training_split", "validation_split", "fewshot_split", "fewshot_config", "tag"):
        config.pop(key, None)
    config.update(task=f"bimedix_{task_id}", dataset_path="json", test_split="test",
                  dataset_kwargs={"data_files": {"test": str(data_file)}, "cache_dir": str(cache_dir)},
                  metric_list=[{"metric": "acc"}, {"metric": "acc_norm"}])
    return config


def run_harness(model_dir: str, items_by_task: dict[str, list[MCQItem]], workdir: Path, dtype: str = "float32",
                device: str = "cpu", batch_size: int = 8) -> dict[str, list[dict]]:
    """Per task, per item in order: {"logliks", "acc", "acc_norm", "contexts"} from the
    harness's logged samples. One `simple_evaluate` call scores every task."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    configs = {}
    for task_id, items in items_by_task.items():
        data_file = workdir / f"{task_id}.jsonl"
        data_file.write_text("".join(json.dumps(harness_doc(i), ensure_ascii=False) + "\n" for i in items),
                             encoding="utf-8")
        configs[task_id] = harness_task_config(task_id, data_file, workdir / "datasets-cache")
    output = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": model_dir, "dtype": dtype, "device": device},
        tasks=list(configs.values()), batch_size=batch_size, log_samples=True, num_fewshot=0,
        # the inline configs are all we need: skip indexing the harness's 14k task files
        task_manager=TaskManager(include_defaults=False))
    return {task_id: _harness_items(output["samples"][config["task"]]) for task_id, config in configs.items()}


def _harness_items(samples: list[dict]) -> list[dict]:
    return [{"logliks": [float(r[0][0]) for r in s["resps"]], "acc": float(s["acc"]),
             "acc_norm": float(s["acc_norm"]), "contexts": [args[0] for args in s["arguments"]]}
            for s in sorted(samples, key=lambda s: int(s["doc_id"]))]


@dataclass(frozen=True)
class Agreement:
    items: int
    ours_acc: float
    harness_acc: float
    ours_acc_norm: float
    harness_acc_norm: float
    max_abs_loglik_diff: float
    prediction_mismatches: int  # items where the argmax (acc or acc_norm) differs
    prompt_mismatches: int  # items whose context string differs from the harness's


def compare(ours: list[ItemResult], harness: list[dict]) -> Agreement:
    if len(ours) != len(harness):
        raise ValueError(f"{len(ours)} items scored by us, {len(harness)} by the harness")
    diffs = [abs(a - b) for mine, theirs in zip(ours, harness) for a, b in zip(mine.logliks, theirs["logliks"], strict=True)]
    mismatches = sum(mine.scores()["acc"] != theirs["acc"] or mine.scores()["acc_norm"] != theirs["acc_norm"]
                     for mine, theirs in zip(ours, harness))
    prompts = sum(any(context != mine.context for context in theirs["contexts"]) for mine, theirs in zip(ours, harness))
    n = len(ours)
    return Agreement(n, sum(m.scores()["acc"] for m in ours) / n, sum(h["acc"] for h in harness) / n,
                     sum(m.scores()["acc_norm"] for m in ours) / n, sum(h["acc_norm"] for h in harness) / n,
                     max(diffs), mismatches, prompts)


def offline_environment() -> None:
    """Both runs read local files only; make any hub call fail instead of reaching out."""
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def main(
    model: Annotated[str, typer.Option(help="model card or local checkpoint directory (no adapters)")] = "preview",
    task: Annotated[str, typer.Option(help="pubmedqa, medmcqa, medqa or mmlu_<subject>")] = "pubmedqa",
    limit: Annotated[int, typer.Option(help="items, a seeded random sample")] = 100,
    seed: Annotated[int, typer.Option(help="seed of the sample")] = 1234,
    data_dir: Annotated[Optional[Path], typer.Option(help="benchmark files; default ../shared/data")] = None,
    batch_size: Annotated[int, typer.Option(help="batch size of both runs")] = 8,
) -> None:
    """Accuracy and per-item log-likelihoods: ours vs lm-evaluation-harness."""
    if task not in TASKS or TASKS[task].harness_task is None:
        raise typer.BadParameter(f"--task must be one of {', '.join(t for t in TASKS if TASKS[t].harness_task)}")
    offline_environment()
    from engine.loading import load_model, weights_location
    from evaluate.loglik import ScoringConfig
    from evaluate.mcqa import score_items

    items = load_items(task, "en", data_dir or default_data_dir(), limit=limit, seed=seed)
    loaded = load_model(model)
    start = time.perf_counter()
    ours = score_items(loaded, items, ScoringConfig(batch_size=batch_size))
    ours_s = time.perf_counter() - start
    dtype = str(loaded.model.dtype).removeprefix("torch.")
    with tempfile.TemporaryDirectory(prefix="agreement-") as workdir:
        start = time.perf_counter()
        harness = run_harness(weights_location(loaded.card), {task: items}, Path(workdir), dtype,
                              str(loaded.model.device), batch_size)[task]
        harness_s = time.perf_counter() - start
    result = compare(ours, harness)
    labels = {label: sum(PUBMEDQA_CHOICES["en"][i.gold] == label for i in items) for label in PUBMEDQA_CHOICES["en"]}
    sys.stdout.write(json.dumps({**result.__dict__, "acc_diff": result.ours_acc - result.harness_acc,
                                 "model": loaded.card.name, "task": task, "device": str(loaded.model.device),
                                 "dtype": dtype, "ours_seconds": round(ours_s, 1), "harness_seconds": round(harness_s, 1),
                                 **({"labels": labels} if task == "pubmedqa" else {})}, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)
