"""English items from the model hub (online only): the dataset ids lm-evaluation-harness uses.

Arabic benchmark files are not on the hub in a known place; they are read from disk only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .files import USMLE_STEPS, usmle_items
from .items import MCQItem
from .schemas import mcq_item, pubmedqa_item

# task id -> (dataset id, config name, split), as in the harness's task YAMLs
HUB_DATASETS = {
    "pubmedqa": ("bigbio/pubmed_qa", "pubmed_qa_labeled_fold0_source", "test"),
    "medmcqa": ("openlifescienceai/medmcqa", None, "validation"),
    "medqa": ("GBaker/MedQA-USMLE-4-options-hf", None, "test"),
}
USMLE_REPO = "medalpaca/medical_meadow_usmle_self_assessment"  # plain JSON files, no loader


def hub_items(task_id: str) -> list[MCQItem]:
    """A task's English items from the hub; raises the hub's own error when offline."""
    if task_id == "usmle":
        return _usmle_from_hub()
    if task_id.startswith("mmlu_"):
        dataset, config, split = "cais/mmlu", task_id.removeprefix("mmlu_"), "test"
    else:
        dataset, config, split = HUB_DATASETS[task_id]
    from datasets import load_dataset

    records = load_dataset(dataset, config, split=split)
    if task_id == "pubmedqa":
        return [pubmedqa_item(dict(r), "en", i) for i, r in enumerate(records)]
    return [mcq_item(dict(r), task_id, "en", i) for i, r in enumerate(records)]


def _usmle_from_hub() -> list[MCQItem]:
    from huggingface_hub import hf_hub_download

    folder = Path(tempfile.mkdtemp(prefix="usmle-"))
    names = ["question_with_images.json", *(f"{s}{end}" for s in USMLE_STEPS for end in (".json", "_solutions.json"))]
    for name in names:
        hf_hub_download(USMLE_REPO, name, repo_type="dataset", local_dir=folder)
    return usmle_items(folder)
