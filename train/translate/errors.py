"""Translation pipeline and review screen errors a person can act on, in Arabic and English."""

from __future__ import annotations

from types import MappingProxyType

from engine.errors import UserFacingError

MESSAGES = MappingProxyType({
    "database_busy": {
        "en": "The translation database is busy (another writer held it for more than {seconds} s). "
              "Nothing was saved; please press the button again.",
        "ar": "قاعدة بيانات الترجمة مشغولة (احتفظ بها كاتب آخر أكثر من {seconds} ثانية). "
              "لم يُحفظ شيء؛ يرجى الضغط على الزر مرة أخرى.",
    },
    "database_unavailable": {
        "en": "The translation database could not be used ({detail}). Nothing was saved.",
        "ar": "تعذّر استخدام قاعدة بيانات الترجمة ({detail}). لم يُحفظ شيء.",
    },
    "settings_changed": {
        "en": "This database was started with other settings ({keys}). Resume with the same settings, "
              "or use another --db for the new ones.",
        "ar": "بدأت قاعدة البيانات هذه بإعدادات أخرى ({keys}). تابع بالإعدادات نفسها، أو استخدم "
              "قاعدة بيانات أخرى (--db) للإعدادات الجديدة.",
    },
    "reviewer_name_invalid": {
        "en": "A reviewer's name must be 1 to {limit} characters.",
        "ar": "يجب أن يكون اسم المراجع من حرف واحد إلى {limit} حرفًا.",
    },
    "reviewer_code_required": {
        "en": "Please enter your personal reviewer code (from the organiser), then press Start / Next.",
        "ar": "يرجى إدخال رمزك الشخصي للمراجعة (من المنظِّم)، ثم اضغط «ابدأ / التالي».",
    },
    "reviewer_code_invalid": {
        "en": "That reviewer code is not valid (it may have been revoked). Please check it, or ask the "
              "organiser for a new one.",
        "ar": "رمز المراجعة هذا غير صالح (ربما أُلغي). يرجى التحقق منه أو طلب رمز جديد من المنظِّم.",
    },
    "reviewer_code_revoked": {
        "en": "Your reviewer code was revoked, so nothing was saved. Ask the organiser for a new code.",
        "ar": "أُلغي رمزك الشخصي للمراجعة، لذا لم يُحفظ شيء. اطلب رمزًا جديدًا من المنظِّم.",
    },
    "reviewer_has_code": {
        "en": "“{name}” already has a reviewer code. Revoke it first to issue a new one.",
        "ar": "لدى “{name}” رمز مراجعة بالفعل. ألغِه أولًا لإصدار رمز جديد.",
    },
    "reviewer_unknown": {
        "en": "There is no reviewer named “{name}”.",
        "ar": "لا يوجد مراجع باسم “{name}”.",
    },
    "sample_not_found": {
        "en": "There is no sample “{sample}” in this database.",
        "ar": "لا توجد عيّنة “{sample}” في قاعدة البيانات هذه.",
    },
    "claimed_by_other": {
        "en": "“{other}” is reviewing this sample now. You get the next one.",
        "ar": "يراجع “{other}” هذه العيّنة الآن. ستنتقل إلى العيّنة التالية.",
    },
    "already_reviewed": {
        "en": "This sample was already reviewed by “{other}”; your decision was not saved twice.",
        "ar": "راجع “{other}” هذه العيّنة من قبل؛ لم يُحفظ قرارك مرتين.",
    },
    "edit_refused": {
        "en": "The edited Arabic cannot be approved: {problems}. Fix it, or reject the sample.",
        "ar": "لا يمكن اعتماد النص العربي المعدَّل: {problems}. صحّحه أو ارفض العيّنة.",
    },
})


class TranslationError(UserFacingError):
    """A problem with the translation database or a review, not a bug."""

    messages = MESSAGES
