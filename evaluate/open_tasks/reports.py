"""Chest X-ray report tasks of BiMediX2: report generation and report summarization.

`source` is the `--data` path: a CSV / JSON Lines / JSON file, or a folder holding
`<split>.csv|jsonl|json` (split: train, validate, test). Headers are read in any case,
with spaces or underscores ("ViewPosition" = "view_position" = "viewposition").

report-generation: MIMIC-CXR-JPG joined into one table, the columns of its own files:
  study_id (or `study`, as mimic_cxr_sectioned.csv writes it: "s50414267"), subject_id,
  dicom_id and ViewPosition (mimic-cxr-2.0.0-metadata.csv), split
  (mimic-cxr-2.0.0-split.csv), findings and impression (mimic_cxr_sectioned.csv), one row
  per image; or one row per study with `image_paths` and `views` (JSON lists, or
  `;`-separated in a CSV). An image is `image_path` / `image` / `path`, else MIMIC-CXR-JPG's
  `files/p<first 2 of subject>/p<subject>/s<study>/<dicom_id>.jpg`.
  - image: the study's first frontal image (ViewPosition PA or AP), the single-view
    setting of MultiMedEval and BiMediX2; with no view column, its first image. A study
    whose images are all lateral is left out, as is one without findings.
  - reference: the findings section (MultiMedEval, BiMediX2); the impression is kept in meta.
report-summarization: findings -> impression (MIMIC-CXR, as in the radiology report
  summarization benchmarks): columns findings, impression [, study_id / id, split]; or the
  MIMIC-RRS folder (vilmedic, BioNLP 2023 task 1B): `<split>.findings.tok` and
  `<split>.impression.tok`, line-parallel. Rows without either section are left out.

The question turn is a fixed instruction in the item's language (summarization adds the
findings). Arabic: the reports are English. With Arabic sections in the file
(`findings_ar`, `impression_ar`) the whole item is Arabic. Without them only the
instruction is Arabic and it asks for the answer in English, because the reference is
English (an Arabic answer scored against it would only measure the language);
`meta["reference_lang"]` says which. A file's `split` column selects the split; a file
without one is taken as the split asked for.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

from evaluate.open_tasks.items import OpenItem
from evaluate.open_tasks.release_files import canonical_split, read_records, row_split, split_files, text

log = logging.getLogger(__name__)

GENERATION, SUMMARIZATION = "report-generation", "report-summarization"
FRONTAL_VIEWS = ("PA", "AP")
GENERATION_INSTRUCTIONS = {
    "en": "Write the findings section of the radiology report for this chest X-ray.",
    "ar": "اكتب قسم النتائج (Findings) من تقرير الأشعة لصورة الأشعة السينية للصدر هذه.",
}
SUMMARY_INSTRUCTIONS = {
    "en": "Summarize the findings of this chest X-ray report into its impression section.",
    "ar": "لخّص نتائج تقرير الأشعة السينية للصدر هذا في قسم الانطباع (Impression).",
}
FINDINGS_LABEL = {"en": "Findings", "ar": "النتائج"}
ANSWER_IN_ENGLISH = " اكتب الإجابة باللغة الإنجليزية."  # Arabic instruction, English reference
LAYOUTS = {
    GENERATION: "a CSV / JSON Lines table of MIMIC-CXR-JPG studies: study_id, subject_id, dicom_id or "
                "image_path, ViewPosition, findings, impression [, split]",
    SUMMARIZATION: "a CSV / JSON Lines file with findings, impression [, study_id, split], or a folder with "
                   "<split>.findings.tok and <split>.impression.tok",
}
FILE_PATTERNS = ("{name}.jsonl", "{name}.csv", "{name}.json")


def load_report_generation(lang: str, source: Path, split: str = "test") -> list[OpenItem]:
    split = canonical_split(split)
    studies: dict[str, list[tuple[dict, str]]] = {}  # study id -> its rows, in file order
    for row, where in _rows(GENERATION, Path(source), split):
        study = text(row, "study_id", "study")
        if not study:
            raise ValueError(f"{where}: no study_id; expected {LAYOUTS[GENERATION]}")
        studies.setdefault(study, []).append((row, where))
    items, left_out = [], Counter()
    for study, rows in studies.items():
        images = [image for row, where in rows for image in _row_images(row, study, where)]
        frontal = _first_frontal(images)
        findings, reference_lang = _section(rows, "findings", lang)
        if frontal is None or not findings:
            left_out["no frontal image" if frontal is None else "no findings"] += 1
            continue
        first = rows[0][0]
        turn = GENERATION_INSTRUCTIONS[lang] + (ANSWER_IN_ENGLISH if lang != reference_lang else "")
        meta = {"study_id": study, "subject_id": text(first, "subject_id"), "split": first["_split"],
                "view": frontal[1], "images": [path for path, _ in images],
                "impression": _section(rows, "impression", lang)[0],
                "reference_section": "findings", "reference_lang": reference_lang}
        items.append(OpenItem(GENERATION, lang, study, (turn,), frontal[0], findings, meta))
    return _finished(GENERATION, Path(source), split, items, left_out)


def load_report_summarization(lang: str, source: Path, split: str = "test") -> list[OpenItem]:
    split, source = canonical_split(split), Path(source)
    rows = _rrs_rows(source, split) if source.is_dir() else None
    items, left_out = [], Counter()
    for number, (row, where) in enumerate(rows if rows is not None else _rows(SUMMARIZATION, source, split)):
        findings, reference_lang = _section([(row, where)], "findings", lang)
        impression = text(row, "impression_ar") if reference_lang == "ar" else text(row, "impression")
        if not findings or not impression:
            left_out["no findings" if not findings else "no impression"] += 1
            continue
        instruction = SUMMARY_INSTRUCTIONS[lang] + (ANSWER_IN_ENGLISH if lang != reference_lang else "")
        turn = f"{instruction}\n\n{FINDINGS_LABEL[reference_lang]}: {findings}"
        item_id = text(row, "study_id", "study", "id") or f"{row['_split']}-{number:05d}"
        meta = {"study_id": text(row, "study_id", "study"), "split": row["_split"], "findings": findings,
                "reference_section": "impression", "reference_lang": reference_lang}
        items.append(OpenItem(SUMMARIZATION, lang, item_id, (turn,), None, impression, meta))
    return _finished(SUMMARIZATION, source, split, items, left_out)


# --- files and rows ----------------------------------------------------------------------

def _key(header: str) -> str:
    return re.sub(r"[\s_-]+", "_", str(header).strip().lower())


def _rows(task: str, source: Path, split: str) -> list[tuple[dict, str]]:
    """(row with normalized keys and its split in "_split", "file: row N") of the split asked."""
    if source.is_dir():
        names = ("train", "validate", "test") if split == "all" else (split,)
        paths = [found for name in names for found in split_files(source, name, FILE_PATTERNS)[:1]]
        if not paths:
            raise FileNotFoundError(f"{source}: no {split}.jsonl / .csv / .json; expected {LAYOUTS[task]}")
    else:
        paths = [source]
    rows = []
    for path in paths:
        records = read_records(path, LAYOUTS[task])
        if records and not {"findings", "findings_ar"} & {_key(k) for k in records[0]}:
            raise ValueError(f"{path}: no findings column; expected {LAYOUTS[task]}")
        file_split = _name_split(path, split)
        for number, record in enumerate(records, 1):
            row, where = {_key(k): v for k, v in record.items()}, f"{path}: row {number}"
            row["_split"] = row_split(row["split"], where) if text(row, "split") else file_split
            if split == "all" or row["_split"] == split:
                rows.append((row, where))
    return rows


def _rrs_rows(folder: Path, split: str) -> list[tuple[dict, str]] | None:
    """The MIMIC-RRS layout's line-parallel files as rows; None when the folder is not one."""
    names = ("train", "validate", "test") if split == "all" else (split,)
    rows = []
    for name in names:
        findings = split_files(folder, name, ("{name}.findings.tok",))
        if not findings:
            continue
        impressions = findings[0].with_name(findings[0].name.replace(".findings.", ".impression."))
        if not impressions.is_file():
            raise FileNotFoundError(f"{impressions}: missing; the MIMIC-RRS layout pairs {findings[0].name} with it")
        lines = [path.read_text(encoding="utf-8").splitlines() for path in (findings[0], impressions)]
        if len(lines[0]) != len(lines[1]):
            raise ValueError(f"{findings[0]} has {len(lines[0])} lines, {impressions} {len(lines[1])}: "
                             "the MIMIC-RRS files must be line-parallel")
        rows += [({"findings": f, "impression": i, "_split": name}, f"{findings[0]}: line {n}")
                 for n, (f, i) in enumerate(zip(*lines), 1)]
    return rows or None


def _name_split(path: Path, split: str) -> str:
    try:
        return canonical_split(path.name.split(".")[0])
    except ValueError:
        return split  # reports.csv: the split asked for ("all" when all were asked)


def _row_images(row: dict, study: str, where: str) -> list[tuple[str, str]]:
    """(image path, view) of a row: one image, or lists `image_paths` and `views`."""
    listed = _listed(row.get("image_paths", row.get("images")))
    if listed:
        views = _listed(row.get("views")) or [""] * len(listed)
        if len(views) != len(listed):
            raise ValueError(f"{where}: {len(listed)} image_paths but {len(views)} views")
        return list(zip(listed, (view.upper() for view in views)))
    view = text(row, "viewposition", "view_position", "view").upper()
    path = text(row, "image_path", "image", "path")
    if not path and text(row, "dicom_id"):
        subject, study_number = text(row, "subject_id").lstrip("p"), study.lstrip("s")
        if not subject:
            raise ValueError(f"{where}: a dicom_id needs subject_id to make the MIMIC-CXR-JPG path")
        path = f"files/p{subject[:2]}/p{subject}/s{study_number}/{text(row, 'dicom_id')}.jpg"
    if not path:
        raise ValueError(f"{where}: no image (image_path, image_paths or dicom_id); expected {LAYOUTS[GENERATION]}")
    return [(path, view)]


def _listed(value) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        value = json.loads(value)
    if isinstance(value, str):
        value = value.split(";")
    return [str(v).strip() for v in value or [] if str(v).strip()]


def _first_frontal(images: list[tuple[str, str]]) -> tuple[str, str] | None:
    if not any(view for _, view in images):
        return images[0] if images else None
    return next(((path, view) for path, view in images if view in FRONTAL_VIEWS), None)


def _section(rows: list[tuple[dict, str]], name: str, lang: str) -> tuple[str, str]:
    """(the study's section text, its language): the Arabic section under lang "ar" when present."""
    if lang == "ar":
        arabic = next((text(row, f"{name}_ar") for row, _ in rows if text(row, f"{name}_ar")), "")
        if arabic:
            return arabic, "ar"
    return next((text(row, name) for row, _ in rows if text(row, name)), ""), "en"


def _finished(task: str, source: Path, split: str, items: list[OpenItem], left_out: Counter) -> list[OpenItem]:
    if left_out:
        log.warning("%s %s: left out %s", task, source, ", ".join(f"{n} ({why})" for why, n in left_out.items()))
    if not items:
        raise ValueError(f"{source}: no {split} items ({dict(left_out) or 'no rows'}); expected {LAYOUTS[task]}")
    return items
