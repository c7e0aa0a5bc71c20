"""Every piece of interface text, in English and Arabic. One table, so a missing
translation is a test failure rather than an English word in an Arabic screen.

Messages from the engine (errors, notices) are worded in engine/errors.py; this table
holds only what the UI itself says.
"""

from __future__ import annotations

from types import MappingProxyType

UI_LANGUAGES = ("en", "ar")
# The selector's own label is bilingual, so it can be found from either language.
UI_LANGUAGE_LABEL = "Interface language · لغة الواجهة"
UI_LANGUAGE_CHOICES = [("English", "en"), ("العربية", "ar")]

STRINGS = MappingProxyType({
    "en": MappingProxyType({
        "subtitle": "Bilingual (Arabic / English) medical chat",
        "model_heading": "Model",
        "model": "Model",
        "model_info": "Loaded when first chosen; the conversation is kept",
        "not_medical": "This is not a medical model: do not rely on its answers.",
        "adapter": "Adapter",
        "adapter_info": "“none” is the base model",
        "chatbot": "Conversation",
        "chat_placeholder": "Ask a medical question in Arabic or English. You can attach an image "
                            "(PNG, JPEG, WebP, TIFF or DICOM).",
        "input": "Message",
        "input_placeholder": "Type a message, or attach an image…",
        "send": "Send",
        "stop": "Stop",
        "regenerate": "Regenerate",
        "clear": "Clear",
        "export": "Export (Markdown + JSON)",
        "export_files": "Exported conversation",
        "examples": "Examples",
        "reply_language": "Reply language",
        "reply_auto": "Auto (each message)",
        "settings": "Generation settings",
        "temperature": "Temperature",
        "top_p": "Top-p",
        "max_new_tokens": "Max new tokens",
        "repetition_penalty": "Repetition penalty",
        "seed": "Seed (−1: random)",
        "disclaimer": "**Research demo, not a medical device.** Answers can be wrong and are not "
                      "medical advice. Always consult a qualified clinician.",
        "privacy": "**Nothing is stored on the server.** The conversation exists only in this "
                   "browser session and is discarded when you close the tab. Exports are made "
                   "on request and deleted within the hour.",
        "exported": "The conversation was exported. Download the files below.",
        "nothing_to_export": "There is nothing to export yet.",
    }),
    "ar": MappingProxyType({
        "subtitle": "محادثة طبية ثنائية اللغة (العربية / الإنجليزية)",
        "model_heading": "النموذج",
        "model": "النموذج",
        "model_info": "يُحمَّل عند اختياره أول مرة؛ وتبقى المحادثة كما هي",
        "not_medical": "هذا ليس نموذجًا طبيًا: لا تعتمد على إجاباته.",
        "adapter": "المحوّل (Adapter)",
        "adapter_info": "«none» هو النموذج الأساسي",
        "chatbot": "المحادثة",
        "chat_placeholder": "اطرح سؤالًا طبيًا بالعربية أو الإنجليزية. يمكنك إرفاق صورة "
                            "(PNG أو JPEG أو WebP أو TIFF أو DICOM).",
        "input": "الرسالة",
        "input_placeholder": "اكتب رسالتك أو أرفق صورة…",
        "send": "إرسال",
        "stop": "إيقاف",
        "regenerate": "إعادة التوليد",
        "clear": "مسح",
        "export": "تصدير (Markdown و JSON)",
        "export_files": "المحادثة المصدّرة",
        "examples": "أمثلة",
        "reply_language": "لغة الرد",
        "reply_auto": "تلقائي (حسب كل رسالة)",
        "settings": "إعدادات التوليد",
        "temperature": "درجة الحرارة (العشوائية)",
        "top_p": "Top-p (أخذ العينات النووي)",
        "max_new_tokens": "الحد الأقصى للرموز الجديدة",
        "repetition_penalty": "عقوبة التكرار",
        # U+200E (left-to-right mark) keeps the minus sign before the 1 in right-to-left text.
        "seed": "البذرة (‎−1: عشوائية)",
        "disclaimer": "**عرض بحثي وليس جهازًا طبيًا.** قد تكون الإجابات خاطئة ولا تُعد نصيحة "
                      "طبية. استشر دائمًا طبيبًا مختصًا.",
        "privacy": "**لا يُحفظ شيء على الخادم.** توجد المحادثة في جلسة المتصفح هذه فقط وتُحذف عند "
                   "إغلاق التبويب. يُنشأ التصدير عند الطلب ويُحذف خلال ساعة.",
        "exported": "تم تصدير المحادثة. نزّل الملفات أدناه.",
        "nothing_to_export": "لا يوجد ما يمكن تصديره بعد.",
    }),
})


def text(key: str, lang: str) -> str:
    """The interface text `key` in `lang` ("en" or "ar")."""
    return STRINGS[lang if lang in STRINGS else "en"][key]


def reply_language_choices(lang: str) -> list[tuple[str, str]]:
    """The reply-language selector: auto / العربية / English (language names stay native)."""
    return [(text("reply_auto", lang), "auto"), ("العربية", "ar"), ("English", "en")]
