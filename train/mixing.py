"""Bilingual mixing: Arabic and English samples at a set ratio (BiMed1.3M: 1 Arabic to 2 English).

Nothing is duplicated: the language with fewer samples than its share is used in full and
the other is sampled down to the ratio, with a seed, so a run can be repeated exactly.
The result is shuffled, so both languages are spread through every epoch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from datasets import Dataset, concatenate_datasets

from train.data import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MixReport:
    available: dict[str, int]
    used: dict[str, int]

    def __str__(self) -> str:
        parts = [f"{lang}: {self.used.get(lang, 0)} of {self.available.get(lang, 0)}" for lang in ("ar", "en")]
        return "mixed samples (used of available) " + ", ".join(parts)


def target_counts(available: dict[str, int], ratio: dict[str, float]) -> dict[str, int]:
    """The most samples per language that keep `ratio` without using any sample twice."""
    weighted = [lang for lang, weight in ratio.items() if weight > 0]
    missing = [lang for lang in weighted if available.get(lang, 0) == 0]
    if missing:
        names = {"ar": "Arabic", "en": "English"}
        raise DataError(f"language_ratio asks for {' and '.join(names[m] for m in missing)} samples but the "
                        f"sources have none (available: {available}); set the sources' `language`, "
                        "change data.language_ratio, or set it to null to keep every sample")
    scale = min(available[lang] / ratio[lang] for lang in weighted)
    return {lang: int(np.floor(scale * ratio[lang] + 1e-9)) if ratio.get(lang, 0) > 0 else 0
            for lang in ("ar", "en")}


def mix(datasets: list[Dataset], ratio: dict[str, float] | None, seed: int) -> tuple[Dataset, MixReport]:
    """All sources as one shuffled dataset, sampled to the Arabic:English ratio (None: keep all)."""
    combined = concatenate_datasets(datasets) if len(datasets) > 1 else datasets[0]
    languages = np.array(combined["language"])
    available = {lang: int((languages == lang).sum()) for lang in ("ar", "en")}
    rng = np.random.default_rng(seed)
    if ratio is None:
        chosen = np.arange(len(combined))
        used = available
    else:
        used = target_counts(available, ratio)
        chosen = np.concatenate([
            rng.choice(np.flatnonzero(languages == lang), size=used[lang], replace=False)
            for lang in ("ar", "en")])
    report = MixReport(available, used)
    log.info("%s", report)
    return combined.select(rng.permutation(chosen)), report


def split_eval(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """Hold out `fraction` of the samples (at least one) for eval loss."""
    if fraction <= 0:
        return dataset, None
    if len(dataset) < 2:
        raise DataError("data.eval_fraction needs at least two samples to hold one out")
    size = max(1, int(round(len(dataset) * fraction)))
    parts = dataset.train_test_split(test_size=size, seed=seed, shuffle=True)
    return parts["train"], parts["test"]
