"""Arena errors a person can act on, in Arabic and English.

Same pattern as engine/errors.py: `ArenaError(code, **params).message(lang)`. ArenaError
is a `UserFacingError`, so a UI that already catches those shows arena problems the same
way; the codes and texts live here so the engine's table stays the engine's.
"""

from __future__ import annotations

from types import MappingProxyType

from engine.errors import UserFacingError

MESSAGES = MappingProxyType({
    "study_not_found": {
        "en": "There is no study named “{study}”. Check the study name with the organiser.",
        "ar": "لا توجد دراسة باسم “{study}”. تحقّق من اسم الدراسة مع المنظِّم.",
    },
    "study_name_invalid": {
        "en": "A study name needs 1 to {limit} visible characters.",
        "ar": "يجب أن يتكوّن اسم الدراسة من حرف واحد إلى {limit} حرفًا مرئيًا.",
    },
    "access_denied": {
        "en": "The access code is not correct for this study. Please check it and try again.",
        "ar": "رمز الدخول غير صحيح لهذه الدراسة. يرجى التحقق منه والمحاولة مرة أخرى.",
    },
    "rater_name_invalid": {
        "en": "Please enter a display name of 1 to {limit} characters (letters, digits, spaces).",
        "ar": "يرجى إدخال اسم عرض من حرف واحد إلى {limit} حرفًا (حروف وأرقام ومسافات).",
    },
    "rater_name_reserved": {
        "en": "Display names starting with “{prefix}” are kept for automatic (LLM) judges, so that "
              "their votes are never counted as a person's. Please choose another name.",
        "ar": "أسماء العرض التي تبدأ بـ “{prefix}” محجوزة للمحكّمين الآليين (النماذج اللغوية)، كي لا "
              "تُحتسب أصواتهم أصواتَ أشخاص. يرجى اختيار اسم آخر.",
    },
    "rater_not_found": {
        "en": "Your rater session was not found in this study. Please enter your name again.",
        "ar": "لم يُعثر على جلسة التقييم الخاصة بك في هذه الدراسة. يرجى إدخال اسمك مرة أخرى.",
    },
    "rater_code_required": {
        "en": "This study uses personal rater codes: please enter the personal code the organiser "
              "gave you (a display name alone is not enough).",
        "ar": "تستخدم هذه الدراسة رموزًا شخصية للمقيّمين: يرجى إدخال الرمز الشخصي الذي أعطاك إياه "
              "المنظِّم (لا يكفي اسم العرض وحده).",
    },
    "rater_code_invalid": {
        "en": "That personal code is not valid for this study (it may have been revoked). Please "
              "check it, or ask the organiser for a new one.",
        "ar": "هذا الرمز الشخصي غير صالح لهذه الدراسة (ربما أُلغي). يرجى التحقق منه أو طلب رمز جديد "
              "من المنظِّم.",
    },
    "rater_has_code": {
        "en": "“{name}” already has a personal code in this study. Revoke it first to issue a new one.",
        "ar": "لدى “{name}” رمز شخصي بالفعل في هذه الدراسة. ألغِه أولًا لإصدار رمز جديد.",
    },
    "rater_unknown": {
        "en": "There is no rater named “{name}” in this study.",
        "ar": "لا يوجد مقيّم باسم “{name}” في هذه الدراسة.",
    },
    "too_many_attempts": {
        "en": "Too many attempts. Please wait {minutes} minute(s) and try again.",
        "ar": "محاولات كثيرة جدًا. يرجى الانتظار {minutes} دقيقة (دقائق) ثم المحاولة مرة أخرى.",
    },
    "too_few_models": {
        "en": "A comparison needs at least two different models; {count} configured.",
        "ar": "تحتاج المقارنة إلى نموذجين مختلفين على الأقل؛ المُعدّ حاليًا: {count}.",
    },
    "battle_not_found": {
        "en": "This comparison round was not found. Please start a new round.",
        "ar": "لم يُعثر على جولة المقارنة هذه. يرجى بدء جولة جديدة.",
    },
    "battle_not_yours": {
        "en": "This comparison round belongs to another rater. Please start a new round.",
        "ar": "جولة المقارنة هذه تخص مقيّمًا آخر. يرجى بدء جولة جديدة.",
    },
    "already_voted": {
        "en": "You have already voted on this comparison. Start a new round to vote again.",
        "ar": "لقد صوّتّ بالفعل على هذه المقارنة. ابدأ جولة جديدة للتصويت مرة أخرى.",
    },
    "invalid_winner": {
        "en": "Unknown vote “{winner}”. Choose A is better, B is better, tie or both are bad.",
        "ar": "تصويت غير معروف “{winner}”. اختر: A أفضل، أو B أفضل، أو تعادل، أو كلاهما سيئ.",
    },
    "vote_before_replies": {
        "en": "Both models must finish a reply before you vote (model {side} has no reply yet).",
        "ar": "يجب أن يُكمل النموذجان ردّيهما قبل التصويت (النموذج {side} لم يردّ بعد).",
    },
    "reason_too_long": {
        "en": "The reason is too long ({size} characters; the limit is {limit}). Please shorten it.",
        "ar": "السبب طويل جدًا ({size} حرفًا، والحد الأقصى {limit}). يرجى اختصاره.",
    },
    "invalid_rater_language": {
        "en": "Unknown rater language “{language}”; expected one of {accepted}.",
        "ar": "لغة المقيّم “{language}” غير معروفة؛ القيم المقبولة: {accepted}.",
    },
    "database_busy": {
        "en": "The vote database is busy (another writer held it for more than {seconds} s). "
              "Nothing was saved; please press the button again.",
        "ar": "قاعدة بيانات التصويت مشغولة (احتفظ بها كاتب آخر أكثر من {seconds} ثانية). "
              "لم يُحفظ شيء؛ يرجى الضغط على الزر مرة أخرى.",
    },
    "database_newer": {
        "en": "The vote database was written by a newer version of this app (schema revision {revision}; "
              "this version knows up to {newest}). Nothing was changed: please update the app.",
        "ar": "كُتبت قاعدة بيانات التصويت بإصدار أحدث من هذا التطبيق (مراجعة المخطط {revision}؛ هذا الإصدار "
              "يعرف حتى {newest}). لم يُغيَّر شيء: يرجى تحديث التطبيق.",
    },
    "database_unavailable": {
        "en": "The vote database could not be used ({detail}). Nothing was saved; please try "
              "again or tell the organiser.",
        "ar": "تعذّر استخدام قاعدة بيانات التصويت ({detail}). لم يُحفظ شيء؛ يرجى المحاولة مرة "
              "أخرى أو إبلاغ المنظِّم.",
    },
})


class ArenaError(UserFacingError):
    """A problem with a study, a rater, a battle or the vote store, not a bug."""

    messages = MESSAGES
