"""Identity leaks: replies that name a model or its maker break the blind comparison.

FastChat drops battles whose conversation contains any of a list of identity words
(`IDENTITY_WORDS` in fastchat/serve/monitor/clean_battle_data.py). This is the same idea
with three changes for a bilingual medical arena:

- only the models' *replies* are searched: a rater asking "are you ChatGPT?" reveals
  nothing, a reply saying "I am ChatGPT" does;
- whole words only, case-insensitive: "metabolic" is not "Meta", and "meta-analysis"
  (common in medical answers) is not "Meta" either;
- Arabic spellings, with the clitics Arabic glues to a name ("و", "ب", "ل", "ف" and
  "ال"): "وميسترال" names Mistral.

The configured model ids (e.g. "bimedix2-8b", "card:adapter") are searched too, with
"-", "_" and spaces interchangeable, and so is each id's card part (see
`model_id_spellings`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Label -> spellings. Latin spellings are matched case-insensitively.
IDENTITY_TERMS: dict[str, tuple[str, ...]] = {
    "BiMediX": ("BiMediX", "BiMediX2", "بايميديكس", "بيميديكس", "باي ميديكس"),
    "Mixtral": ("Mixtral", "ميكسترال", "مكسترال"),
    "Mistral": ("Mistral", "Mistral AI", "ميسترال", "مسترال"),
    "Llama": ("Llama", "LLaMA-2", "Llama 3", "لاما", "لامّا"),
    "LLaVA": ("LLaVA", "لافا"),
    # Not "ميتا" alone: unvowelled it is also the ordinary word for "dead" ("وُلد ميتا").
    "Meta": ("Meta", "Meta AI", "شركة ميتا", "ميتا إيه آي", "ميتا للذكاء الاصطناعي"),
    "Gemma": ("Gemma", "جيما", "جيمّا"),
    "Gemini": ("Gemini", "جيميني", "جيمناي"),
    "Google": ("Google", "DeepMind", "جوجل", "غوغل", "قوقل"),
    "OpenAI": ("OpenAI", "أوبن إيه آي", "اوبن اي اي"),
    "GPT": ("GPT", "GPT-3", "GPT-3.5", "GPT-4", "GPT-4o", "جي بي تي"),
    "ChatGPT": ("ChatGPT", "Chat GPT", "شات جي بي تي", "تشات جي بي تي"),
    "Claude": ("Claude", "Anthropic", "كلود", "أنثروبيك"),
    "Qwen": ("Qwen", "Alibaba", "علي بابا"),
    "Jais": ("Jais", "جيس"),
    "MBZUAI": ("MBZUAI", "Mohamed bin Zayed University", "جامعة محمد بن زايد"),
}
# Names that are also word prefixes in medical English: "meta-analysis", "meta-regression".
_NOT_BEFORE_HYPHEN = frozenset({"Meta"})

_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")
# Not "ك" ("like"): "ك" + "لاما" spells "كلاما" ("words"), a common Arabic word.
_ARABIC_CLITICS = r"(?:[وفبل]?(?:ال)?|لل)"
_SEPARATORS = re.compile(r"[-_\s]+")


@dataclass(frozen=True)
class LeakReport:
    """`names`: the labels found, sorted; `evidence`: "label: 'matched text' (side)"."""

    names: tuple[str, ...]
    evidence: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.names)

    @property
    def reason(self) -> str | None:
        return "; ".join(self.evidence) if self.evidence else None


def _spelling_pattern(spelling: str, hyphen_ends_word: bool) -> str:
    parts = [re.escape(part) for part in _SEPARATORS.split(spelling.strip()) if part]
    body = r"[-_\s]?".join(parts)
    if _ARABIC_LETTER.search(spelling):
        return rf"(?<!\w){_ARABIC_CLITICS}{body}(?!\w)"
    if hyphen_ends_word:  # "GPT-4" names GPT
        return rf"(?<!\w){body}(?!\w)"
    return rf"(?<![\w-]){body}(?![\w-])"  # "meta-analysis" is not Meta


def model_id_spellings(model_id: str) -> tuple[str, ...]:
    """The searchable spellings of a configured id: the id and, for "card:adapter", the card;
    for a remote "openai:MODEL@URL", the server's model id (and its last path part); each
    also without a size suffix ("-8b").

    Plain words ("preview", "baseline") are left out: they occur in ordinary replies and
    would flag innocent battles. Ids with a digit or separator ("bimedix2-8b") are kept.
    """
    candidates = dict.fromkeys([model_id, model_id.split(":", 1)[0]])
    remote = re.match(r"^openai:(?P<model>.+)@https?://", model_id)  # a remote model: its server's id
    if remote:
        served = remote["model"]
        candidates = dict.fromkeys([served, served.rsplit("/", 1)[-1]])
    for candidate in list(candidates):  # "med42-8b" is called "Med42" in its own replies
        candidates.setdefault(re.sub(r"[-_]\d+(\.\d+)?[bm]$", "", candidate, flags=re.I))
    return tuple(c for c in candidates if len(c) >= 3 and re.search(r"[\d\-_:/.]", c))


@dataclass(frozen=True)
class _Term:
    label: str
    pattern: re.Pattern
    # Casefolded first word of each spelling: a cheap substring test that rules most
    # replies out before the (much slower) regex with its look-arounds runs.
    anchors: tuple[str, ...]


def compile_terms(model_ids: Iterable[str] = (),
                  extra_terms: dict[str, Sequence[str]] | None = None) -> list[_Term]:
    """One matcher per label, built from IDENTITY_TERMS, `extra_terms` and the model ids."""
    terms = {label: list(spellings) for label, spellings in IDENTITY_TERMS.items()}
    for label, spellings in (extra_terms or {}).items():
        terms.setdefault(label, []).extend(spellings)
    for model_id in model_ids:
        terms.setdefault(model_id, []).extend(model_id_spellings(model_id))
    compiled = []
    for label, spellings in terms.items():
        if not spellings:  # an id with no searchable spelling (see model_id_spellings)
            continue
        hyphen_ends_word = label not in _NOT_BEFORE_HYPHEN
        # Longest first, so the evidence quotes "Mistral AI" rather than "Mistral".
        ordered = sorted(set(spellings), key=len, reverse=True)
        pattern = re.compile("|".join(_spelling_pattern(s, hyphen_ends_word) for s in ordered),
                             re.IGNORECASE)
        anchors = tuple({_SEPARATORS.split(s.strip())[0].casefold() for s in ordered})
        compiled.append(_Term(label, pattern, anchors))
    return compiled


def find_identity_leaks(
    replies: dict[str, Iterable[str]],
    model_ids: Iterable[str] = (),
    extra_terms: dict[str, Sequence[str]] | None = None,
) -> LeakReport:
    """Search each side's replies ({"A": [reply, ...], "B": [...]}) for identity names."""
    terms = compile_terms(model_ids, extra_terms)
    names, evidence = set(), []
    for side, texts in replies.items():
        for text in texts:
            folded = text.casefold()
            for term in terms:
                if not any(anchor in folded for anchor in term.anchors):
                    continue
                match = term.pattern.search(text)
                if match:
                    names.add(term.label)
                    evidence.append(f"{term.label}: {match.group(0).strip()!r} ({side})")
    return LeakReport(tuple(sorted(names)), tuple(dict.fromkeys(evidence)))
