"""Medical VQA benchmarks of BiMediX2: VQA-RAD, SLAKE (English questions), PathVQA.

`source` is the `--data` path: a release folder or one of its files. Layouts read:

VQA-RAD
- The OSF release (Lau et al. 2018, osf.io/89kps): `VQA_RAD Dataset Public.json`, a list
  of objects with qid, image_name, image_organ, question, answer, answer_type (CLOSED /
  OPEN), question_type, phrase_type (freeform, para, test_freeform, test_para), ...; the
  images are in `VQA_RAD Image Folder/`. test = phrase_type starting with "test" (the 451
  standard test questions), train = the rest; there is no validation split.
- The hub export flaviagiammarino/vqa-rad: `data/<split>-*.parquet` (image {bytes, path},
  question, answer), or `<split>.jsonl|json|csv` with an image file name.
SLAKE
- The release folder (Liu et al. 2021, `Slake1.0/`): train.json, validate.json, test.json,
  lists of objects with img_id, img_name ("xmlab102/source.jpg", under `imgs/`), question,
  answer, answer_type (CLOSED / OPEN), q_lang (en / zh), content_type, modality, location,
  base_type, qid. Only English questions are kept (q_lang "en"), as BiMediX2 and
  MultiMedEval do.
PathVQA
- `<split>.jsonl|json|csv` with image (a file name; PathVQA's extension-less names such
  as "test_0262" get ".jpg", the release's image format), question, answer; or the hub
  export flaviagiammarino/path-vqa (`data/<split>-*.parquet`). The release's pickles
  (`qas/<split>/<split>_qa.pkl`) are not unpickled (a pickle runs code): the error says
  how to turn one into JSON.

Closed or open (`meta["answer_type"]`): the dataset's own answer_type where it has one
(VQA-RAD's release, SLAKE); otherwise closed = the answer is yes/no (MultiMedEval's rule).
`meta["answer_type_from"]` says which. Hub exports embed the images: each is written once,
named by its content, to `images/` beside the data (the folder above `data/`), and
`meta["image_dir"]` names that folder; for the releases it names the image folder when it
is there (`--image-dir` still decides).

Arabic: these datasets are English (SLAKE also Chinese). `lang="ar"` reads Arabic fields
(`question_ar` / `answer_ar`, or an Arabic `question`, or SLAKE q_lang "ar") and refuses a
file without them: English questions are never scored as Arabic ones.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evaluate.open_tasks.items import OpenItem
from evaluate.open_tasks.release_files import (arabic_pair, canonical_split, extract_image, read_records,
                                               split_files, text)
from evaluate.vqa_metrics import CLOSED_ANSWERS, clean_str

DATASETS = {"vqa-rad": "VQA-RAD", "slake": "SLAKE", "pathvqa": "PathVQA"}
VQA_RAD_FILE = "VQA_RAD Dataset Public.json"
VQA_RAD_IMAGES = "VQA_RAD Image Folder"
FLAT_PATTERNS = ("data/{name}-*.parquet", "{name}-*.parquet", "{name}.parquet", "{name}.jsonl", "{name}.json",
                 "{name}.csv")
LAYOUTS = {
    "vqa-rad": f"the VQA-RAD OSF release '{VQA_RAD_FILE}' (qid, image_name, question, answer, answer_type, "
               "phrase_type), or the hub export flaviagiammarino/vqa-rad (data/<split>-*.parquet: image, "
               "question, answer)",
    "slake": "the SLAKE release folder: train.json, validate.json, test.json (img_name, question, answer, "
             "answer_type, q_lang, qid, ...)",
    "pathvqa": "PathVQA as <split>.jsonl / .json / .csv (image, question, answer), or the hub export "
               "flaviagiammarino/path-vqa (data/<split>-*.parquet: image, question, answer)",
}
ANSWER_TYPES = {"CLOSED": "closed", "OPEN": "open"}
YES_NO = (*CLOSED_ANSWERS, "نعم", "لا")  # a file translated in place answers in Arabic


def load_vqa_rad(lang: str, source: Path, split: str = "test") -> list[OpenItem]:
    split, source = canonical_split(split), Path(source)
    release = source / VQA_RAD_FILE if source.is_dir() else source
    if release.is_file() and release.suffix.lower() == ".json":
        records = read_records(release, LAYOUTS["vqa-rad"])
        if records and "phrase_type" in records[0]:
            return _vqa_rad_release(lang, release, records, split)
    return _flat_dataset("vqa-rad", lang, source, split)


def load_slake(lang: str, source: Path, split: str = "test") -> list[OpenItem]:
    split, source = canonical_split(split), Path(source)
    folder = source / "Slake1.0" if (source / "Slake1.0").is_dir() else source
    if folder.is_dir():
        names = ("train", "validate", "test") if split == "all" else (split,)
        files = [found for name in names for found in split_files(folder, name, ("{name}.json",))]
        if len(files) < len(names):
            raise FileNotFoundError(f"{folder}: no {split}.json; expected {LAYOUTS['slake']}")
    else:
        files, folder = [source], source.parent
    image_dir = folder / "imgs"
    items = []
    for path in files:
        for record in read_records(path, LAYOUTS["slake"]):
            where = f"{path}: qid {record.get('qid')}"
            if "q_lang" not in record or "img_name" not in record:
                raise ValueError(f"{where}: no q_lang / img_name; expected {LAYOUTS['slake']}")
            q_lang = text(record, "q_lang").lower()
            if q_lang not in ("en", "ar") or (lang == "en" and q_lang != "en"):
                continue  # SLAKE's Chinese half
            meta = {"answer_type": _release_answer_type(record, where), "answer_type_from": "dataset",
                    "split": _file_split(path, split), "q_lang": q_lang,
                    **{key: record.get(key) for key in ("img_id", "content_type", "modality", "location", "base_type")},
                    **_image_dir_meta(image_dir)}
            item = _item("slake", lang, record, text(record, "qid"), text(record, "img_name"), meta, where)
            if item is not None:
                items.append(item)
    return _finished("slake", lang, items, files, split)


def load_pathvqa(lang: str, source: Path, split: str = "test") -> list[OpenItem]:
    split, source = canonical_split(split), Path(source)
    if source.is_dir() and not _flat_files(source, split):
        name = "val" if split == "validate" else split
        pickle = source / "qas" / name / f"{name}_qa.pkl"
        if pickle.is_file():
            raise ValueError(
                f"{pickle}: the PathVQA release pickle is not read (unpickling runs code); convert it once "
                f"with python -c \"import json, pickle; json.dump(pickle.load(open('{pickle}', 'rb')), "
                f"open('{source / (split + '.json')}', 'w'))\" and run again")
    return _flat_dataset("pathvqa", lang, source, split)


# --- VQA-RAD's OSF release -------------------------------------------------------------

def _vqa_rad_release(lang: str, path: Path, records: list[dict], split: str) -> list[OpenItem]:
    if split == "validate":
        raise ValueError(f"{path}: VQA-RAD has no validation split (train, test or all)")
    image_dir = path.parent / VQA_RAD_IMAGES
    items = []
    for index, record in enumerate(records):
        where = f"{path}: qid {record.get('qid', index)}"
        phrase_type = text(record, "phrase_type").lower()
        is_test = phrase_type.startswith("test")  # test_freeform, test_para
        if split != "all" and is_test != (split == "test"):
            continue
        meta = {"answer_type": _release_answer_type(record, where), "answer_type_from": "dataset",
                "split": "test" if is_test else "train", "phrase_type": phrase_type,
                "question_type": text(record, "question_type"), "image_organ": text(record, "image_organ"),
                **_image_dir_meta(image_dir)}
        item = _item("vqa-rad", lang, record, text(record, "qid") or str(index), text(record, "image_name"),
                     meta, where)
        if item is not None:
            items.append(item)
    return _finished("vqa-rad", lang, items, [path], split)


# --- flat layouts: hub exports and JSON / JSON Lines / CSV ------------------------------

def _flat_files(folder: Path, split: str) -> list[Path]:
    names = ("train", "validate", "test") if split == "all" else (split,)
    return [found for name in names for found in split_files(folder, name, FLAT_PATTERNS)]


def _flat_dataset(task: str, lang: str, source: Path, split: str) -> list[OpenItem]:
    if source.is_dir():
        files = _flat_files(source, split)
        if not files:
            raise FileNotFoundError(f"{source}: no {split} files; expected {LAYOUTS[task]}")
        root = source
    elif source.exists():
        files = [source]
        root = source.parent.parent if source.parent.name == "data" else source.parent
    else:
        raise FileNotFoundError(f"{source}: no such file or folder; expected {LAYOUTS[task]}")
    items, counters = [], {}
    for path in files:
        file_split = _file_split(path, split)
        for record in read_records(path, LAYOUTS[task]):
            number = counters[file_split] = counters.get(file_split, -1) + 1  # numbered across a split's shards
            where = f"{path}: row {number + 1}"
            if "question" not in record or "answer" not in record:
                raise ValueError(f"{where}: no question / answer; expected {LAYOUTS[task]}")
            image, image_dir = _record_image(task, record, root, where)
            meta = {**_flat_answer_type(record, where), "split": file_split, **_image_dir_meta(image_dir)}
            item_id = text(record, "qid", "id") or f"{file_split}-{number:05d}"
            item = _item(task, lang, record, item_id, image, meta, where)
            if item is not None:
                items.append(item)
    return _finished(task, lang, items, files, split)


def _record_image(task: str, record: dict, root: Path, where: str) -> tuple[str, Path | None]:
    """(file name, image folder) of a record's image: a name, or a hub export's {bytes, path}."""
    value = record.get("image", record.get("image_name", record.get("img_name")))
    if isinstance(value, dict) and value.get("bytes"):
        store = root / "images"
        return extract_image(value["bytes"], store), store
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: no image (a file name, or the hub's {{bytes, path}}); expected {LAYOUTS[task]}")
    name = value.strip()
    if task == "pathvqa" and not Path(name).suffix:
        name += ".jpg"  # the release names images without their extension
    return name, None


def _flat_answer_type(record: dict, where: str) -> dict:
    if text(record, "answer_type"):
        return {"answer_type": _release_answer_type(record, where), "answer_type_from": "dataset"}
    closed = clean_str(text(record, "answer")) in YES_NO
    return {"answer_type": "closed" if closed else "open", "answer_type_from": "yes/no answer"}


# --- shared ----------------------------------------------------------------------------

def _release_answer_type(record: dict, where: str) -> str:
    value = text(record, "answer_type").upper()
    if value not in ANSWER_TYPES:
        raise ValueError(f"{where}: answer_type {record.get('answer_type')!r} is not CLOSED or OPEN")
    return ANSWER_TYPES[value]


def _item(task: str, lang: str, record: dict, item_id: str, image: str, meta: dict, where: str) -> OpenItem | None:
    """The record as an item in `lang`; None for a record with no Arabic question under lang "ar"."""
    if lang == "ar":
        pair = arabic_pair(record, "question", "answer")
        if pair is None:
            return None
        question, answer = pair
    else:
        question, answer = text(record, "question"), text(record, "answer")
    if not question:
        raise ValueError(f"{where}: the question is empty")
    if not image:
        raise ValueError(f"{where}: no image name")
    return OpenItem(task, lang, item_id, (question,), image, answer or None, meta)


def _finished(task: str, lang: str, items: list[OpenItem], files: list[Path], split: str) -> list[OpenItem]:
    where = ", ".join(str(path) for path in files)
    if not items and lang == "ar":
        raise ValueError(f"{where}: no Arabic questions ({DATASETS[task]} is English; give a file with "
                         "question_ar / answer_ar fields or Arabic questions); English questions are not "
                         "scored as Arabic")
    if not items:
        raise ValueError(f"{where}: no {split} questions; expected {LAYOUTS[task]}")
    return _unique_ids(items)


def _unique_ids(items: list[OpenItem]) -> list[OpenItem]:
    """Answer files key items by id: a repeated id gets #2, #3... in file order."""
    seen: dict[str, int] = {}
    unique = []
    for item in items:
        count = seen[item.item_id] = seen.get(item.item_id, 0) + 1
        unique.append(item if count == 1 else replace(item, item_id=f"{item.item_id}#{count}"))
    return unique


def _image_dir_meta(folder: Path | None) -> dict:
    return {"image_dir": str(folder.resolve())} if folder is not None and folder.is_dir() else {}


def _file_split(path: Path, split: str) -> str:
    """A file's split from its name (test.json, test-00000-of-00001.parquet); else the one asked."""
    stem = path.name.split(".")[0].split("-")[0].lower()
    try:
        return canonical_split(stem)
    except ValueError:
        return split
