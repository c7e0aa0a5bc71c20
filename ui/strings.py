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
        "banner": "Research use only: not a medical device, and not medical advice.",
        "model_heading": "Model",
        "model": "Model",
        "model_info": "Loaded when first chosen; the conversation is kept",
        "not_medical": "This is not a medical model: do not rely on its answers.",
        "engine_transformers": "Engine: transformers, in this app's process.",
        "engine_vllm": "Engine: vLLM, started and watched by this app.",
        "engine_vllm_starting": "Engine: vLLM, starting, about {seconds} s more. Replies can be sent once it is up.",
        "adapter": "Adapter",
        "adapter_info": "“none” is the base model",
        "chatbot": "Conversation",
        "chat_placeholder": "Ask a medical question in Arabic or English. You can attach an image "
                            "(PNG, JPEG, WebP, TIFF or DICOM).",
        "input": "Message",
        "input_placeholder": "Type a message, or attach an image…",
        "send": "Send",
        "send_without_image": "Send without the image",
        "reads_images": "reads images",
        "arena_cannot_read_images": "One of the two models in this round cannot see images, so the image was not "
                                    "sent. Send your text without the image, or start a new round.",
        "stop": "Stop",
        "regenerate": "Regenerate",
        "clear": "Clear",
        "export": "Export (Markdown + JSON)",
        "waiting_for_model": "Waiting for the model (position {position})…",
        "writing_reply": "Writing…",
        "no_text_written": "(Stopped before any text was written.)",
        "meta_adapter": "adapter",
        "adapter_none": "none",
        "meta_language": "reply in",
        "finish_stopped": "stopped",
        "finish_length": "cut at the length limit",
        "finish_failed": "failed",
        "copy": "Copy the reply",
        # Icons' labels (ui/icons.py) and the toasts' titles (ui/common.py).
        "icon_wait": "Waiting", "icon_warning": "Warning", "icon_info": "Note", "icon_privacy": "Privacy",
        "icon_storage": "Stored", "toast_warning": "Warning", "toast_info": "Note", "toast_error": "Error",
        # Gradio's own tooltips and screen-reader labels (ui/labels.py GRADIO_TEXTS).
        "g_upload_file": "Upload a file", "g_reset": "Reset to default value", "g_more_tabs": "More tabs",
        "g_remove": "Remove", "g_fullscreen": "Fullscreen", "g_exit_fullscreen": "Exit fullscreen mode",
        "g_download": "Download", "g_copy": "Copy", "g_copied": "Copied", "g_sort": "Sort column",
        "g_close": "Close", "g_loading": "Loading…", "g_complete": "Complete", "g_progress": "Progress", "g_user": "user", "g_assistant": "assistant",
        "g_table_actions": "Table actions", "g_cell_menu": "Open cell menu", "g_chart": "Chart",
        "g_number_input": "number input for $1", "g_range_slider": "range slider for $1",
        "g_x_axis": "X axis: $1", "g_y_axis": "Y axis: $1",
        "keep_conversation": "Keep my conversation in this browser",
        "keep_info": "Off by default: on a shared computer the next person would see it. Text only, "
                     "encrypted, never on the server",
        "forget": "Forget everything kept in this browser",
        "forgotten": "Nothing of your conversations is kept in this browser any more.",
        "kept_unreadable": "The conversation kept in this browser could not be opened here (it was kept by "
                           "another browser, or before the server restarted), so it was deleted.",
        "kept_cut": "Only the newest part of the kept conversation came back: {count} older messages were "
                    "too long or too many to restore.",
        "keep_needs_cookie": "This browser does not keep the app's cookie, so nothing can be kept in it: the "
                             "conversation is encrypted with a key that needs that cookie.",
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
        "reply_language_info": "Auto answers in the language of your last message",
        "temperature_info": "Higher is more varied, 0 always gives the same answer",
        "top_p_info": "Sample only from the most likely words covering this share",
        "max_new_tokens_info": "The longest reply, in tokens (about ¾ of a word each); longer replies take longer",
        "repetition_penalty_info": "Above 1 discourages repeating the same words",
        "seed_info": "The same seed and settings give the same reply",
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
        "vote_a": "A is better",
        "vote_b": "B is better",
        "vote_tie": "Tie",
        "vote_bad": "Both are bad",
        "vote_reason": "Reason (optional)",
        "rater_language": "Languages you rated in",
        "rater_both": "Both",
        "new_round": "New round",
        "vote_recorded": "Thank you, your vote was recorded.",
        "revealed": "Model A was **{a}**; Model B was **{b}**.",
        "leak_flagged": "One of the replies named a model or vendor, so this vote is kept but left out "
                        "of the ratings.",
        "vote_after_replies": "Vote once both models have replied.",
        "arena_take_turns": "In this round the two models take turns: one reply starts once the other has "
                            "finished.",
        "arena_taken_back": "Stopped before one of the models had written anything: the message was taken back "
                            "from both conversations, so that they stay alike. Send it again (attach any images "
                            "again).",
        "arena_empty_reply": "One of the models ended its reply without writing anything: the message was taken "
                             "back from both conversations, so that they stay alike. Send it again (attach any "
                             "images again).",
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
        "lb_prior": "Ratings start from a weak prior (1000 ± 200) that a few dozen votes outweigh; each "
                    "interval is the wider of the bootstrap's and the posterior's.",
        "lb_too_few": "Too few votes yet: these ratings are provisional until there are at least {votes} votes "
                      "and every model has been in at least {battles} battles.",
        "lb_col_rank": "Rank",
        "lb_col_model": "Model",
        "lb_col_rating": "Rating",
        "lb_col_ci_low": "95% low",
        "lb_col_ci_high": "95% high",
        "lb_col_elo": "Elo",
        "lb_col_battles": "Battles",
        "lb_col_wins": "Wins",
        "lb_col_ties": "Ties",
        "lb_col_losses": "Losses",
        "lb_col_win_rate": "Win rate",
        "lb_judges": "LLM judges",
        "lb_judges_intro": "Votes of language models acting as judges (raters `judge:<model>`): each compares the two "
                           "replies in both orders, and a verdict that changes with the order counts as a tie. They "
                           "are never counted in the ratings above. Agreement: the share of the raters' battles a "
                           "judge re-judged where it chose the same winner (“both bad” counts as a tie); rank "
                           "correlation: Spearman's, between its ratings and the raters'; order flips: the share of "
                           "its verdicts that changed with the order.",
        "lb_judge_agreed": "{judge} agreed with the raters on {agreed} of {compared} battles ({share})",
        "lb_judge_not_compared": "{judge} has re-judged none of the raters' battles yet",
        "lb_judge_rank": "rank correlation {rho}",
        "lb_judge_rank_none": "rank correlation not defined yet (fewer than two models in common, or tied ratings)",
        "lb_judge_flips": "order flips {rate}",
        "lb_judge_line": "{agreement}; {rank}; {flips}.",
        "lb_judge_votes": "{battles} of its votes counted.",
        "admin": "Study progress and export (organiser)",
        "admin_code": "Organiser code",
        "admin_show": "Show progress",
        "admin_export": "Export all votes (JSONL + CSV)",
        "admin_closed": "The organiser view is closed: start the app with --arena-admin-code to open it.",
        "admin_denied": "That organiser code is not correct.",
        "admin_rater_name": "New rater's display name",
        "admin_add_rater": "Add rater (creates a personal code)",
        "admin_rater_code": "Personal code for <bdi>**{name}**</bdi>: <bdi>`{code}`</bdi>\n\nShown only this once: give it to the "
                            "rater privately. If it is lost, revoke it (`python -m arena.raters revoke`) and add "
                            "the rater again.",
        # The arena's polish (issue 27): placeholder, who is rating, shared ranks, organiser's table.
        "arena_placeholder": "Ask both models the same question, in Arabic or English; you may attach an image…",
        "arena_rating_as": "You are rating as: {name}",
        "lb_rank_shared": "A rank marked “=” is shared (tied): those models' 95% intervals overlap, so the votes "
                          "cannot yet tell them apart.",
        "admin_col_display_name": "Rater",
        "admin_col_battles_started": "Rounds started",
        "admin_col_votes": "Votes",
        "admin_col_flagged_votes": "Flagged votes (a reply named a model)",
        "admin_col_last_activity": "Last active",
        "admin_col_personal_code": "Personal code",
        "admin_code_active": "active",
        "admin_code_revoked": "revoked",
        "admin_code_none": "none (joined by name)",
        "admin_time": "{when} UTC",
    }),
    "ar": MappingProxyType({
        "subtitle": "محادثة طبية ثنائية اللغة (العربية / الإنجليزية)",
        "banner": "للاستخدام البحثي فقط: ليس جهازًا طبيًا، ولا يُعد نصيحة طبية.",
        "model_heading": "النموذج",
        "model": "النموذج",
        "model_info": "يُحمَّل عند اختياره أول مرة؛ وتبقى المحادثة كما هي",
        "not_medical": "هذا ليس نموذجًا طبيًا: لا تعتمد على إجاباته.",
        "engine_transformers": "المحرّك: transformers، داخل عملية هذا التطبيق.",
        "engine_vllm": "المحرّك: vLLM، يشغّله هذا التطبيق ويراقبه.",
        "engine_vllm_starting": "المحرّك: vLLM، قيد التشغيل، نحو {seconds} ثانية أخرى. يمكن إرسال الرسائل بعد أن يعمل.",
        "adapter": "المحوّل (Adapter)",
        "adapter_info": "«none» هو النموذج الأساسي",
        "chatbot": "المحادثة",
        "chat_placeholder": "اطرح سؤالًا طبيًا بالعربية أو الإنجليزية. يمكنك إرفاق صورة "
                            "(PNG أو JPEG أو WebP أو TIFF أو DICOM).",
        "input": "الرسالة",
        "input_placeholder": "اكتب رسالتك أو أرفق صورة…",
        "send": "إرسال",
        "send_without_image": "أرسل من دون الصورة",
        "reads_images": "يقرأ الصور",
        "arena_cannot_read_images": "أحد النموذجين في هذه الجولة لا يستطيع رؤية الصور، لذا لم تُرسل الصورة. أرسل "
                                    "نصّك من دون الصورة، أو ابدأ جولة جديدة.",
        "stop": "إيقاف",
        "regenerate": "إعادة التوليد",
        "clear": "مسح",
        "export": "تصدير (Markdown و JSON)",
        "waiting_for_model": "بانتظار النموذج (الدور {position})…",
        "writing_reply": "يكتب الرد…",
        "no_text_written": "(أُوقف قبل كتابة أي نص.)",
        "meta_adapter": "المحوّل",
        "adapter_none": "بلا محوّل",
        "meta_language": "الرد بـ",
        "finish_stopped": "أُوقف",
        "finish_length": "قُطع عند حد الطول",
        "finish_failed": "فشل",
        "copy": "انسخ الرد",
        "icon_wait": "انتظار", "icon_warning": "تحذير", "icon_info": "ملاحظة", "icon_privacy": "الخصوصية",
        "icon_storage": "محفوظ", "toast_warning": "تحذير", "toast_info": "ملاحظة", "toast_error": "خطأ",
        "g_upload_file": "ارفع ملفًا", "g_reset": "أعد القيمة الافتراضية", "g_more_tabs": "تبويبات أخرى",
        "g_remove": "أزل", "g_fullscreen": "ملء الشاشة", "g_exit_fullscreen": "الخروج من ملء الشاشة",
        "g_download": "نزّل", "g_copy": "انسخ", "g_copied": "نُسخ", "g_sort": "رتّب العمود",
        "g_close": "أغلق", "g_loading": "جارٍ التحميل…", "g_complete": "اكتمل", "g_progress": "التقدّم", "g_user": "المستخدم", "g_assistant": "المساعد",
        "g_table_actions": "إجراءات الجدول", "g_cell_menu": "افتح قائمة الخلية", "g_chart": "رسم بياني",
        "g_number_input": "$1 (حقل رقمي)", "g_range_slider": "$1 (شريط تمرير)",
        "g_x_axis": "المحور الأفقي: $1", "g_y_axis": "المحور الرأسي: $1",
        "keep_conversation": "احفظ محادثتي في هذا المتصفح",
        "keep_info": "متوقف افتراضيًا: على حاسوب مشترك سيراها الشخص التالي. نص فقط، مشفّر، ولا يُحفظ على الخادم",
        "forget": "احذف كل ما حُفظ في هذا المتصفح",
        "forgotten": "لم يعد أي شيء من محادثاتك محفوظًا في هذا المتصفح.",
        "kept_unreadable": "تعذّر فتح المحادثة المحفوظة في هذا المتصفح هنا (حُفظت في متصفح آخر، أو قبل "
                           "إعادة تشغيل الخادم)، لذا حُذفت.",
        "kept_cut": "عاد الجزء الأحدث فقط من المحادثة المحفوظة: لم تُستعد {count} من الرسائل الأقدم لأنها "
                    "أطول أو أكثر مما يمكن استعادته.",
        "keep_needs_cookie": "لا يحتفظ هذا المتصفح بملف تعريف الارتباط الخاص بالتطبيق، لذا لا يمكن حفظ شيء فيه: "
                             "تُشفَّر المحادثة بمفتاح يحتاج إلى ذلك الملف.",
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
        "reply_language_info": "التلقائي يجيب بلغة رسالتك الأخيرة",
        "temperature_info": "القيمة الأعلى أكثر تنوعًا، والصفر يعطي الجواب نفسه دائمًا",
        "top_p_info": "الاختيار من الكلمات الأرجح فقط حتى تبلغ هذه النسبة",
        "max_new_tokens_info": "أطول رد بالرموز (الرمز نحو ثلاثة أرباع كلمة)؛ الرد الأطول يستغرق وقتًا أطول",
        "repetition_penalty_info": "ما فوق 1 يقلل تكرار الكلمات نفسها",
        "seed_info": "البذرة نفسها مع الإعدادات نفسها تعطي الرد نفسه",
        # "−1" between U+2066 (left-to-right isolate) and U+2069 (pop directional isolate): a
        # run of its own, laid out left to right whatever surrounds it, so the minus sign
        # stays before the 1 in the right-to-left label. A lone U+200E only steers the weak
        # characters next to it, and was reported to show "(1−:".
        "seed": "البذرة (\u2066−1\u2069: عشوائية)",
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
        "vote_a": "A أفضل",
        "vote_b": "B أفضل",
        "vote_tie": "تعادل",
        "vote_bad": "كلاهما سيئ",
        "vote_reason": "السبب (اختياري)",
        "rater_language": "اللغات التي قيّمت بها",
        "rater_both": "كلتاهما",
        "new_round": "جولة جديدة",
        "vote_recorded": "شكرًا لك، سُجّل تصويتك.",
        "revealed": "النموذج A هو **{a}**؛ والنموذج B هو **{b}**.",
        "leak_flagged": "ذكر أحد الردّين اسم نموذج أو شركة، لذا حُفظ هذا التصويت لكنه استُبعد من التقييمات.",
        "vote_after_replies": "صوّت بعد أن يردّ النموذجان كلاهما.",
        "arena_take_turns": "في هذه الجولة يتناوب النموذجان: يبدأ أحد الردّين بعد أن ينتهي الآخر.",
        "arena_taken_back": "أُوقف قبل أن يكتب أحد النموذجين شيئًا: سُحبت الرسالة من المحادثتين كلتيهما لتبقيا "
                            "متطابقتين. أرسلها مرة أخرى (وأرفق الصور من جديد إن وُجدت).",
        "arena_empty_reply": "أنهى أحد النموذجين ردّه دون أن يكتب شيئًا: سُحبت الرسالة من المحادثتين كلتيهما "
                             "لتبقيا متطابقتين. أرسلها مرة أخرى (وأرفق الصور من جديد إن وُجدت).",
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
        # The numbers between U+2066 and U+2069 (an isolated left-to-right run): "1000 ± 200"
        # reads as in the English text.
        "lb_prior": "تبدأ التقييمات من توزيع مسبق ضعيف (\u20661000 ± 200\u2069) تطغى عليه بضع عشرات من "
                    "الأصوات؛ وكل فترة هي الأوسع بين فترة إعادة المعاينة وفترة التوزيع اللاحق.",
        "lb_too_few": "الأصوات قليلة بعد: هذه التقييمات مؤقتة حتى يبلغ عدد الأصوات {votes} على الأقل ويدخل كل "
                      "نموذج {battles} مواجهات على الأقل.",
        "lb_col_rank": "المرتبة",
        "lb_col_model": "النموذج",
        "lb_col_rating": "التقييم",
        "lb_col_ci_low": "الحد الأدنى 95%",
        "lb_col_ci_high": "الحد الأعلى 95%",
        "lb_col_elo": "إيلو",
        "lb_col_battles": "المواجهات",
        "lb_col_wins": "الانتصارات",
        "lb_col_ties": "التعادلات",
        "lb_col_losses": "الهزائم",
        "lb_col_win_rate": "نسبة الفوز",
        "lb_judges": "المحكّمون الآليون (نماذج لغوية)",
        "lb_judges_intro": "أصوات نماذج لغوية تعمل محكّمين (مقيّمون باسم `judge:<model>`): يقارن كلٌّ منها الردّين "
                           "بالترتيبين، ويُعدّ الحكم الذي يتغيّر بتغيّر الترتيب تعادلًا. لا تُحتسب أبدًا في التقييمات "
                           "أعلاه. الاتفاق: نسبة مواجهات المقيّمين التي أعاد المحكّم الحكم فيها فاختار الفائز نفسه "
                           "(«كلاهما سيئ» يُعدّ تعادلًا)؛ ارتباط الترتيب: معامل سبيرمان بين تقييماته وتقييمات "
                           "المقيّمين؛ تبدّل الترتيب: نسبة أحكامه التي تغيّرت بتغيّر الترتيب.",
        "lb_judge_agreed": "اتفق {judge} مع المقيّمين في {agreed} من {compared} مواجهة ({share})",
        "lb_judge_not_compared": "لم يُعِد {judge} الحكم في أيٍّ من مواجهات المقيّمين بعد",
        "lb_judge_rank": "ارتباط الترتيب {rho}",
        "lb_judge_rank_none": "ارتباط الترتيب غير معرّف بعد (أقل من نموذجين مشتركين، أو تقييمات متساوية)",
        "lb_judge_flips": "تبدّل الترتيب {rate}",
        "lb_judge_line": "{agreement}؛ {rank}؛ {flips}.",
        "lb_judge_votes": "عدد أصواته المحتسبة {battles}.",
        "admin": "تقدّم الدراسة والتصدير (للمنظِّم)",
        "admin_code": "رمز المنظِّم",
        "admin_show": "عرض التقدّم",
        "admin_export": "تصدير كل الأصوات (JSONL و CSV)",
        "admin_closed": "واجهة المنظِّم مغلقة: شغّل التطبيق مع ‎--arena-admin-code لفتحها.",
        "admin_denied": "رمز المنظِّم غير صحيح.",
        "admin_rater_name": "اسم العرض للمقيّم الجديد",
        "admin_add_rater": "إضافة مقيّم (يُنشئ رمزًا شخصيًا)",
        "admin_rater_code": "الرمز الشخصي لـ <bdi>**{name}**</bdi>: <bdi>`{code}`</bdi>\n\nيُعرض هذه المرة فقط: أعطه للمقيّم على انفراد. "
                            "إن ضاع فألغِه (`python -m arena.raters revoke`) ثم أضف المقيّم من جديد.",
        "arena_placeholder": "اطرح السؤال نفسه على النموذجين بالعربية أو الإنجليزية؛ يمكنك إرفاق صورة…",
        "arena_rating_as": "تقيّم باسم: {name}",
        "lb_rank_shared": "المرتبة المسبوقة بـ «=» مشتركة (تعادل): تتداخل فترات الثقة 95% لهذه النماذج، فلا تكفي "
                          "الأصوات بعد للتمييز بينها.",
        "admin_col_display_name": "المقيّم",
        "admin_col_battles_started": "الجولات المبدوءة",
        "admin_col_votes": "الأصوات",
        "admin_col_flagged_votes": "أصوات معلَّمة (ذكر ردٌّ فيها اسم نموذج)",
        "admin_col_last_activity": "آخر نشاط",
        "admin_col_personal_code": "الرمز الشخصي",
        "admin_code_active": "فعّال",
        "admin_code_revoked": "ملغى",
        "admin_code_none": "لا يوجد (انضم بالاسم)",
        "admin_time": "\u2066{when}\u2069 بالتوقيت العالمي",
    }),
})


def text(key: str, lang: str) -> str:
    """The interface text `key` in `lang` ("en" or "ar")."""
    return STRINGS[lang if lang in STRINGS else "en"][key]


def reply_language_choices(lang: str) -> list[tuple[str, str]]:
    """The reply-language selector: auto / العربية / English (language names stay native)."""
    return [(text("reply_auto", lang), "auto"), ("العربية", "ar"), ("English", "en")]
