"""Errors a person can act on, worded in their language.

The engine raises `UserFacingError` with a code; `message(lang)` gives the text in
Arabic or English, so the UI and the CLI show the same wording and never a traceback.
"""

from __future__ import annotations

from types import MappingProxyType

MESSAGES = MappingProxyType({
    "empty_message": {
        "en": "The message is empty. Please type a question.",
        "ar": "الرسالة فارغة. يرجى كتابة سؤال.",
    },
    "message_too_long": {
        "en": "The message is too long ({size} characters; the limit is {limit}). Please shorten it.",
        "ar": "الرسالة طويلة جدًا ({size} حرفًا، والحد الأقصى {limit}). يرجى اختصارها.",
    },
    "prompt_too_long": {
        "en": "This message alone needs {tokens} tokens but the model can read only {budget} "
              "before replying. Please shorten it or lower the reply length.",
        "ar": "تحتاج هذه الرسالة وحدها إلى {tokens} رمزًا، بينما لا يستطيع النموذج قراءة أكثر من "
              "{budget} قبل الرد. يرجى اختصارها أو تقليل طول الرد.",
    },
    "history_trimmed": {
        "en": "The conversation is longer than the model's context: the {count} oldest turn(s) were left out of this reply.",
        "ar": "المحادثة أطول من سياق النموذج: لم تُؤخذ أقدم {count} جولة (جولات) في الحسبان لهذا الرد.",
    },
    "images_not_supported": {
        "en": "This model cannot read images; the image was not sent. You can keep chatting in text.",
        "ar": "هذا النموذج لا يستطيع قراءة الصور؛ لم تُرسل الصورة. يمكنك متابعة المحادثة نصيًا.",
    },
    "generation_in_progress": {
        "en": "A reply is still being written. Wait for it or press Stop.",
        "ar": "ما زال الرد قيد الكتابة. انتظر حتى يكتمل أو اضغط إيقاف.",
    },
    "generation_failed": {
        "en": "The model failed while replying ({detail}). Your message was kept; please try again.",
        "ar": "تعذّر على النموذج إكمال الرد ({detail}). تم الاحتفاظ برسالتك؛ يرجى المحاولة مرة أخرى.",
    },
})


class UserFacingError(Exception):
    """A problem caused by the input or the situation, not a bug."""

    def __init__(self, code: str, **params):
        if code not in MESSAGES:
            raise KeyError(f"no message for error code {code!r}")
        self.code = code
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        texts = MESSAGES[self.code]
        return texts.get(lang, texts["en"]).format(**self.params)


def notice(code: str, lang: str = "en", **params) -> str:
    """A message that informs without being an error (e.g. trimmed history)."""
    texts = MESSAGES[code]
    return texts.get(lang, texts["en"]).format(**params)
