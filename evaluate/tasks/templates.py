"""Zero-shot prompts and answer choices, English and Arabic.

English prompts reproduce lm-evaluation-harness 0.4.13 (the method both BiMediX papers
used) character for character; tests compare them with the harness's own task code:
- pubmedqa        tasks/pubmedqa/preprocess_pubmedqa.py  doc_to_text, choices yes/no/maybe
- medmcqa         tasks/medmcqa/utils_medmcqa.py         "Question: ...\\nChoices:\\nA. ..."
- medqa_4options  tasks/medqa/preprocess_medqa.py        "Question: ...\\nA. ...\\nAnswer:"
- mmlu_<subject>  tasks/mmlu/default/_default_template_yaml, plus the task's description
                  line, which the harness puts before the question even at zero shots.
The harness scores each choice as the continuation " " + choice (target_delimiter " ").

USMLE self-assessment has no harness task; it uses the MedQA prompt with as many option
letters as the question has (up to nine). Arabic prompts keep the same layout with Arabic
wording (السؤال / الإجابة, as in ArabicMMLU's Arabic prompt) and keep the Latin option
letters A-D: the scored continuations are then the same tokens in both languages, so an
Arabic and an English score measure the same decision and can be pooled.
"""

from __future__ import annotations

from dataclasses import dataclass

from .items import MCQItem

TARGET_DELIMITER = " "
LETTERS = "ABCDEFGHI"

PUBMEDQA_CHOICES = {"en": ("yes", "no", "maybe"), "ar": ("نعم", "لا", "ربما")}

MMLU_SUBJECTS_AR = {
    "anatomy": "علم التشريح",
    "clinical_knowledge": "المعرفة السريرية",
    "college_biology": "علم الأحياء الجامعي",
    "college_medicine": "الطب الجامعي",
    "medical_genetics": "علم الوراثة الطبية",
    "professional_medicine": "الطب المهني",
}

WORDS = {
    "en": {"abstract": "Abstract", "question": "Question", "choices": "Choices", "answer": "Answer",
           "mmlu": "The following are multiple choice questions (with answers) about {subject}.\n\n"},
    "ar": {"abstract": "الملخص", "question": "السؤال", "choices": "الخيارات", "answer": "الإجابة",
           "mmlu": "فيما يلي أسئلة اختيار من متعدد (مع الإجابات) حول {subject}.\n\n"},
}


@dataclass(frozen=True)
class Prompt:
    """What gets scored: log P(delimiter + choice | context) for each choice."""

    context: str
    choices: tuple[str, ...]

    def continuations(self) -> list[str]:
        return [TARGET_DELIMITER + choice for choice in self.choices]


def render(item: MCQItem) -> Prompt:
    """The zero-shot prompt of an item, in its own language."""
    words = WORDS[item.lang]
    if item.task == "pubmedqa":
        return Prompt(_pubmedqa_text(item, words), PUBMEDQA_CHOICES[item.lang])
    letters = tuple(LETTERS[: len(item.options)])
    if item.task == "medmcqa":
        text = f"{words['question']}: {item.question}\n{words['choices']}:\n" + _option_lines(item, letters)
    elif item.task.startswith("mmlu_"):
        text = _mmlu_description(item, words) + item.question.strip() + "\n" + _option_lines(item, letters)
    else:  # medqa, usmle
        text = f"{words['question']}: {item.question}\n" + _option_lines(item, letters)
    return Prompt(text + f"{words['answer']}:", letters)


def _pubmedqa_text(item: MCQItem, words: dict) -> str:
    abstract = "\n".join(item.contexts)
    return f"{words['abstract']}: {abstract}\n{words['question']}: {item.question}\n{words['answer']}:"


def _option_lines(item: MCQItem, letters: tuple[str, ...]) -> str:
    return "".join(f"{letter}. {option}\n" for letter, option in zip(letters, item.options))


def _mmlu_description(item: MCQItem, words: dict) -> str:
    subject = item.task.removeprefix("mmlu_")
    name = MMLU_SUBJECTS_AR.get(subject, subject) if item.lang == "ar" else subject.replace("_", " ")
    return words["mmlu"].format(subject=name)
