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
        "download_once": "Each file downloads once, to this browser only; then it is deleted from the server "
                         "(and after an hour if never downloaded).",
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
        "chat_tab": "Chat",
        "arena_tab": "Arena (blind comparison)",
        "leaderboard_tab": "Leaderboard",
        "arena_intro": "Two anonymous models answer the same conversation side by side. Chat with both "
                       "as long as you like (images too), then vote. Their names are shown only after "
                       "your vote.",
        "arena_storage": "**Arena conversations are stored.** Both conversations are saved with your vote "
                         "and your display name for the study. Do not enter patient-identifying information.",
        "arena_disabled": "The arena needs at least two models or adapters. Start the app with, for "
                          "example, `--model bimedix2-8b --model preview`.",
        "rater_name": "Your display name",
        "access_code": "Study access code",
        "personal_code": "Personal rater code",
        "personal_code_info": "If the organiser gave you one: with it, your name comes from the code and no "
                              "study access code is needed.",
        "join": "Start rating",
        "model_a": "Model A",
        "model_b": "Model B",
        "vote_a": "👈 A is better",
        "vote_b": "👉 B is better",
        "vote_tie": "🤝 Tie",
        "vote_bad": "👎 Both are bad",
        "vote_reason": "Reason (optional)",
        "rater_language": "Languages you rated in",
        "rater_both": "Both",
        "new_round": "New round",
        "vote_recorded": "Thank you, your vote was recorded.",
        "revealed": "Model A was **{a}**; Model B was **{b}**.",
        "leak_flagged": "One of the replies named a model or vendor, so this vote is kept but left out "
                        "of the ratings.",
        "vote_after_replies": "Vote once both models have replied.",
        "lb_language": "Conversation language",
        "lb_all": "All",
        "lb_mixed": "Mixed",
        "lb_include_flagged": "Include votes whose replies named a model",
        "lb_refresh": "Refresh",
        "lb_summary": "{battles} votes counted; {flagged} left out for naming a model. Ratings: "
                      "Bradley–Terry (ties count as half a win) with 95% bootstrap intervals; Elo: online, K=4.",
        "lb_not_finite": "Some model has never won or never lost yet: its rating is not meaningful until more votes come in.",
        "lb_empty": "No votes yet.",
        "lb_table": "Ratings",
        "lb_plot": "Bradley–Terry rating",
        "lb_win_rates": "Win rate of the row model against the column model",
        "admin": "Study progress and export (organiser)",
        "admin_code": "Organiser code",
        "admin_show": "Show progress",
        "admin_export": "Export all votes (JSONL + CSV)",
        "admin_closed": "The organiser view is closed: start the app with --arena-admin-code to open it.",
        "admin_denied": "That organiser code is not correct.",
        "admin_rater_name": "New rater's display name",
        "admin_add_rater": "Add rater (creates a personal code)",
        "admin_rater_code": "Personal code for **{name}**: `{code}`\n\nShown only this once: give it to the "
                            "rater privately. If it is lost, revoke it (`python -m arena.raters revoke`) and add "
                            "the rater again.",
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
        "download_once": "يُنزَّل كل ملف مرة واحدة، إلى هذا المتصفح فقط، ثم يُحذف من الخادم "
                         "(وبعد ساعة إن لم يُنزَّل).",
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
        "chat_tab": "المحادثة",
        "arena_tab": "الساحة (مقارنة معمّاة)",
        "leaderboard_tab": "لوحة الترتيب",
        "arena_intro": "يجيب نموذجان مجهولا الهوية عن المحادثة نفسها جنبًا إلى جنب. حاور كليهما كما تشاء "
                       "(بالصور أيضًا)، ثم صوّت. لا تظهر أسماؤهما إلا بعد تصويتك.",
        "arena_storage": "**تُحفظ محادثات الساحة.** تُحفظ المحادثتان مع تصويتك واسم العرض الخاص بك لأغراض "
                         "الدراسة. لا تُدخل معلومات تكشف هوية المرضى.",
        "arena_disabled": "تحتاج الساحة إلى نموذجين أو محوّلين على الأقل. شغّل التطبيق مثلًا بـ "
                          "`--model bimedix2-8b --model preview`.",
        "rater_name": "اسم العرض الخاص بك",
        "access_code": "رمز الدخول إلى الدراسة",
        "personal_code": "رمز المقيّم الشخصي",
        "personal_code_info": "إن أعطاك المنظِّم رمزًا: يُؤخذ اسمك من الرمز ولا حاجة إلى رمز الدخول إلى الدراسة.",
        "join": "ابدأ التقييم",
        "model_a": "النموذج A",
        "model_b": "النموذج B",
        "vote_a": "A أفضل 👈",
        "vote_b": "B أفضل 👉",
        "vote_tie": "تعادل 🤝",
        "vote_bad": "كلاهما سيئ 👎",
        "vote_reason": "السبب (اختياري)",
        "rater_language": "اللغات التي قيّمت بها",
        "rater_both": "كلتاهما",
        "new_round": "جولة جديدة",
        "vote_recorded": "شكرًا لك، سُجّل تصويتك.",
        "revealed": "النموذج A هو **{a}**؛ والنموذج B هو **{b}**.",
        "leak_flagged": "ذكر أحد الردّين اسم نموذج أو شركة، لذا حُفظ هذا التصويت لكنه استُبعد من التقييمات.",
        "vote_after_replies": "صوّت بعد أن يردّ النموذجان كلاهما.",
        "lb_language": "لغة المحادثة",
        "lb_all": "الكل",
        "lb_mixed": "مختلطة",
        "lb_include_flagged": "تضمين الأصوات التي ذكرت ردودها اسم نموذج",
        "lb_refresh": "تحديث",
        "lb_summary": "عدد الأصوات المحتسبة {battles}؛ واستُبعد {flagged} لذكرها اسم نموذج. التقييم: "
                      "برادلي–تيري (التعادل نصف فوز) مع فترات ثقة 95% بإعادة المعاينة؛ وإيلو: متتابع، K=4.",
        "lb_not_finite": "أحد النماذج لم يفز قط أو لم يخسر قط حتى الآن: تقييمه غير ذي معنى حتى تصل أصوات أكثر.",
        "lb_empty": "لا توجد أصوات بعد.",
        "lb_table": "التقييمات",
        "lb_plot": "تقييم برادلي–تيري",
        "lb_win_rates": "نسبة فوز نموذج الصف على نموذج العمود",
        "admin": "تقدّم الدراسة والتصدير (للمنظِّم)",
        "admin_code": "رمز المنظِّم",
        "admin_show": "عرض التقدّم",
        "admin_export": "تصدير كل الأصوات (JSONL و CSV)",
        "admin_closed": "واجهة المنظِّم مغلقة: شغّل التطبيق مع ‎--arena-admin-code لفتحها.",
        "admin_denied": "رمز المنظِّم غير صحيح.",
        "admin_rater_name": "اسم العرض للمقيّم الجديد",
        "admin_add_rater": "إضافة مقيّم (يُنشئ رمزًا شخصيًا)",
        "admin_rater_code": "الرمز الشخصي لـ **{name}**: `{code}`\n\nيُعرض هذه المرة فقط: أعطه للمقيّم على انفراد. "
                            "إن ضاع فألغِه (`python -m arena.raters revoke`) ثم أضف المقيّم من جديد.",
    }),
})


def text(key: str, lang: str) -> str:
    """The interface text `key` in `lang` ("en" or "ar")."""
    return STRINGS[lang if lang in STRINGS else "en"][key]


def reply_language_choices(lang: str) -> list[tuple[str, str]]:
    """The reply-language selector: auto / العربية / English (language names stay native)."""
    return [(text("reply_auto", lang), "auto"), ("العربية", "ar"), ("English", "en")]
