"""What a translation must keep, checked on every round and on every reviewer's edit.

Refused (the translation cannot pass, whatever its score):
- the sample's structure: the same segments (question, each option, each turn), none empty;
- `<image>` placeholders: the same count in each segment;
- numbers (doses, values, ages): every number of the source, in each segment. Arabic-Indic
  digits (٣٫٥) count as the same number as 3.5, and thousands separators are ignored;
- units written after a number (mg, mL, mmHg, mmol/L...): kept in Latin script;
- drug names written in Latin script: kept as they are (a built-in list of generic names,
  their usual stems, and --keep-terms).
Reported, and refined like a low score: glossary terms (English → Arabic) translated
otherwise than the glossary says.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

IMAGE_PLACEHOLDER = "<image>"
_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫", "01234567890123456789.")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Units as written after a number in clinical text; longest first so "mg/dL" wins over "mg".
UNITS = sorted(("mg", "mcg", "µg", "μg", "ng", "g", "kg", "mL", "ml", "L", "dL", "mmHg", "mm Hg", "cmH2O",
                "mmol/L", "mEq/L", "mg/dL", "g/dL", "mg/kg", "µg/dL", "ng/mL", "pg/mL", "U/L", "IU", "IU/L",
                "units", "bpm", "/min", "cm", "mm", "m", "°C", "°F", "%", "kcal", "mOsm/kg", "mm3", "/mm3",
                "µL", "μL", "fL", "pg", "mmol", "mEq", "h", "hr", "hrs", "min"), key=len, reverse=True)
_UNIT_AFTER_NUMBER = re.compile(
    r"\d\s*(" + "|".join(re.escape(u) for u in UNITS) + r")(?![A-Za-z])")
# Generic drug names, and stems that mark one (INN stems: -pril, -sartan, -olol, -mab...).
DRUG_STEMS = ("pril", "sartan", "olol", "dipine", "statin", "prazole", "tidine", "mab", "tinib", "cillin", "mycin",
              "floxacin", "cycline", "azole", "vir", "afil", "parin", "xaban", "gliptin", "gliflozin", "glitazone",
              "triptan", "setron", "lukast", "oxetine", "azepam", "azolam", "barbital", "caine", "asone", "olone",
              "terol", "tropium", "profen", "platin", "rubicin", "semide", "thiazide", "sulfone", "mide", "zosin")
DRUG_NAMES = frozenset("""aspirin metformin insulin warfarin digoxin morphine naloxone paracetamol acetaminophen
amiodarone adenosine atropine epinephrine norepinephrine dopamine dobutamine vasopressin haloperidol lithium
clozapine risperidone olanzapine quetiapine levothyroxine methimazole propylthiouracil allopurinol colchicine
methotrexate cyclophosphamide tamoxifen letrozole vincristine cisplatin doxorubicin ibuprofen naproxen
ketorolac tramadol fentanyl oxycodone codeine buprenorphine methadone ondansetron metoclopramide
spironolactone hydrochlorothiazide furosemide mannitol acetazolamide clopidogrel alteplase streptokinase
nitroglycerin hydralazine labetalol clonidine prazosin phenytoin carbamazepine valproate lamotrigine
levetiracetam phenobarbital diazepam lorazepam midazolam propofol ketamine succinylcholine rocuronium
neostigmine pyridostigmine edrophonium physostigmine donepezil memantine levodopa carbidopa bromocriptine
sumatriptan prednisone prednisolone hydrocortisone dexamethasone fludrocortisone vancomycin gentamicin
ceftriaxone cefazolin cephalexin amoxicillin penicillin doxycycline azithromycin clarithromycin
erythromycin ciprofloxacin levofloxacin metronidazole clindamycin trimethoprim sulfamethoxazole nitrofurantoin
rifampin rifampicin isoniazid pyrazinamide ethambutol fluconazole amphotericin nystatin acyclovir
oseltamivir zidovudine tenofovir ivermectin albendazole mebendazole praziquantel chloroquine
hydroxychloroquine primaquine quinine artemether heparin enoxaparin dabigatran rivaroxaban apixaban
omeprazole ranitidine sucralfate misoprostol loperamide lactulose sildenafil finasteride oxytocin
magnesium calcium potassium bicarbonate glucagon octreotide desmopressin terbutaline salbutamol albuterol
ipratropium montelukast theophylline""".split())
NOT_DRUGS = frozenset({"cholesterol", "ergosterol", "travir"})  # words a stem would take for a drug


@dataclass(frozen=True)
class Glossary:
    """English term → accepted Arabic renderings (one or more)."""

    terms: dict[str, tuple[str, ...]]

    def relevant(self, english_texts) -> dict[str, tuple[str, ...]]:
        joined = "\n".join(english_texts)
        return {term: arabic for term, arabic in self.terms.items() if _has_term(joined, term)}


def load_glossary(path: str | Path) -> Glossary:
    """A CSV/TSV with columns english, arabic (alternatives separated by "|"), or a JSON
    object {english: arabic or [arabic, ...]}."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        pairs = [(k, v if isinstance(v, list) else str(v).split("|")) for k, v in data.items()]
    else:
        dialect = "excel-tab" if path.suffix.lower() == ".tsv" or "\t" in text.splitlines()[0] else "excel"
        rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
        if not rows or not {"english", "arabic"} <= {k.strip().lower() for k in rows[0]}:
            raise ValueError(f"{path}: a glossary needs the columns english and arabic")
        rows = [{k.strip().lower(): v for k, v in row.items()} for row in rows]
        pairs = [(row["english"], row["arabic"].split("|")) for row in rows if (row.get("english") or "").strip()]
    terms = {english.strip(): tuple(a.strip() for a in arabic if a.strip()) for english, arabic in pairs}
    empty = [term for term, arabic in terms.items() if not arabic]
    if empty:
        raise ValueError(f"{path}: no Arabic for {', '.join(empty[:5])}")
    return Glossary(terms)


def load_keep_terms(path: str | Path | None) -> frozenset[str]:
    """Extra names to keep in Latin script, one per line (# comments)."""
    if path is None:
        return frozenset()
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return frozenset(line.split("#", 1)[0].strip().lower() for line in lines if line.split("#", 1)[0].strip())


def numbers(text: str) -> Counter:
    """The numbers in a text, written one way: 1,000 → 1000, ٣٫٥ → 3.5."""
    plain = text.translate(_ARABIC_DIGITS).replace("٬", ",")
    found = Counter()
    for match in _NUMBER.finditer(plain):
        value = match.group()
        value = re.sub(r",(?=\d{3}(?!\d))", "", value).replace(",", ".")
        found[value] += 1
    return found


def units(text: str) -> Counter:
    return Counter(match.group(1) for match in _UNIT_AFTER_NUMBER.finditer(text.translate(_ARABIC_DIGITS)))


def drug_names(text: str, keep_terms: frozenset[str] = frozenset()) -> Counter:
    found = Counter()
    for word in re.findall(r"[A-Za-z][A-Za-z-]{3,}", text):
        lower = word.lower()
        if lower in DRUG_NAMES or lower in keep_terms or (
                len(lower) > 6 and lower.endswith(DRUG_STEMS) and lower not in NOT_DRUGS):
            found[lower] += 1
    return found


def segment_problems(key: str, english: str, arabic: str, keep_terms: frozenset[str] = frozenset()) -> list[str]:
    """What one segment's translation lost."""
    problems = []
    if not arabic.strip():
        return [f"{key}: empty translation"]
    if english.count(IMAGE_PLACEHOLDER) != arabic.count(IMAGE_PLACEHOLDER):
        problems.append(f"{key}: {IMAGE_PLACEHOLDER} placeholders {english.count(IMAGE_PLACEHOLDER)} in the "
                        f"source, {arabic.count(IMAGE_PLACEHOLDER)} in the translation")
    lost_numbers = numbers(english) - numbers(arabic)
    if lost_numbers:
        problems.append(f"{key}: numbers lost: {', '.join(sorted(lost_numbers.elements()))}")
    lost_units = units(english) - units(arabic)
    if lost_units:
        problems.append(f"{key}: units not kept as written: {', '.join(sorted(lost_units.elements()))}")
    kept = Counter(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]{3,}", arabic))
    lost_names = {name for name in drug_names(english, keep_terms) if kept[name] == 0}
    if lost_names:
        problems.append(f"{key}: drug names not kept in Latin script: {', '.join(sorted(lost_names))}")
    return problems


def translation_problems(english: dict[str, str], arabic: dict | None,
                         keep_terms: frozenset[str] = frozenset()) -> list[str]:
    """Every reason to refuse a translation of the whole sample (empty: none)."""
    if not isinstance(arabic, dict):
        return ["structure: the answer is not the sample's JSON object"]
    problems = []
    missing = [k for k in english if k not in arabic]
    extra = [k for k in arabic if k not in english]
    if missing:
        problems.append(f"structure: segments missing: {', '.join(missing)}")
    if extra:
        problems.append(f"structure: segments not in the source: {', '.join(map(str, extra))}")
    for key, text in english.items():
        if key in arabic:
            value = arabic[key]
            if not isinstance(value, str):
                problems.append(f"{key}: not text")
                continue
            problems += segment_problems(key, text, value, keep_terms)
    return problems


def glossary_violations(english: dict[str, str], arabic: dict[str, str], glossary: Glossary | None) -> list[str]:
    """Glossary terms of a segment whose Arabic has none of the glossary's renderings."""
    if glossary is None or not isinstance(arabic, dict):
        return []
    violations = []
    for key, text in english.items():
        for term, renderings in glossary.relevant([text]).items():
            if not any(r in str(arabic.get(key, "")) for r in renderings):
                violations.append(f"{key}: “{term}” should be “{' / '.join(renderings)}”")
    return violations


def _has_term(text: str, term: str) -> bool:
    # Whole words, plurals included ("hypertensions"), never inside a word ("prehypertension").
    return re.search(r"(?<![A-Za-z])" + re.escape(term) + r"(?:e?s)?(?![A-Za-z])", text, re.IGNORECASE) is not None
