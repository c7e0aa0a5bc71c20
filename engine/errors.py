"""Errors a person can act on, worded in their language.

The engine raises `UserFacingError` with a code; `message(lang)` gives the text in
Arabic or English, so the UI and the CLI show the same wording and never a traceback.
`UserFacingError` is the one bilingual error base: a package with errors of its own
(arena/) subclasses it with its own `messages` table, so every caller that shows a
UserFacingError shows those too.
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
    "message_too_many_tokens": {
        "en": "The message is too long for the model ({tokens} tokens; the limit is {limit}). Please shorten it.",
        "ar": "الرسالة أطول مما يستطيع النموذج قراءته ({tokens} رمزًا، والحد الأقصى {limit}). يرجى اختصارها.",
    },
    "invalid_text": {
        "en": "The message contains characters that are not valid text (broken Unicode). Please retype "
              "or paste it again.",
        "ar": "تحتوي الرسالة على محارف ليست نصًا صالحًا (ترميز يونيكود تالف). يرجى إعادة كتابتها أو لصقها "
              "مرة أخرى.",
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
    # The newest message carries an image and this model cannot see images: refused, never
    # answered as if seen (a small model told of the image still described one).
    "model_cannot_read_images": {
        "en": "This model cannot see images. Send your text without the image, or choose a model that reads "
              "images.",
        "ar": "هذا النموذج لا يستطيع رؤية الصور. أرسل نصّك من دون الصورة، أو اختر نموذجًا يقرأ الصور.",
    },
    "generation_in_progress": {
        "en": "A reply is still being written. Wait for it or press Stop.",
        "ar": "ما زال الرد قيد الكتابة. انتظر حتى يكتمل أو اضغط إيقاف.",
    },
    "client_busy": {
        "en": "You already have {count} replies being written (in this or another tab, or from your network). "
              "Wait for one to finish, then send again.",
        "ar": "لديك بالفعل {count} ردود قيد الكتابة (في هذه النافذة أو غيرها، أو من شبكتك). "
              "انتظر حتى ينتهي أحدها، ثم أرسل مجددًا.",
    },
    "server_busy": {
        "en": "The server is busy ({count} replies are being written or waiting). Please try again in a minute.",
        "ar": "الخادم مشغول ({count} ردًا قيد الكتابة أو الانتظار). يُرجى المحاولة مرة أخرى بعد دقيقة.",
    },
    "nothing_to_regenerate": {
        "en": "There is no reply to regenerate yet. Send a message first.",
        "ar": "لا يوجد رد لإعادة توليده بعد. أرسل رسالة أولًا.",
    },
    "generation_failed": {
        "en": "The model failed while replying ({detail}). Your message was kept; please try again.",
        "ar": "تعذّر على النموذج إكمال الرد ({detail}). تم الاحتفاظ برسالتك؛ يرجى المحاولة مرة أخرى.",
    },
    "image_not_found": {
        "en": "The image file could not be opened (it may have been moved, deleted or not fully "
              "uploaded). Please attach it again.",
        "ar": "تعذّر فتح ملف الصورة (ربما نُقل أو حُذف أو لم يكتمل رفعه). يرجى إرفاقه مرة أخرى.",
    },
    "image_empty": {
        "en": "The image file is empty or has no pixels. Please check the export and attach the "
              "image again.",
        "ar": "ملف الصورة فارغ أو لا يحتوي على أي بكسلات. يرجى التحقق من عملية التصدير ثم إرفاق "
              "الصورة مرة أخرى.",
    },
    "image_not_an_image": {
        "en": "This file is not an image (it may be a PDF, a document or a text file). Please "
              "attach the image itself as {accepted}; if it is inside a PDF or a report, export "
              "the image or take a screenshot of it first.",
        "ar": "هذا الملف ليس صورة (ربما يكون ملف PDF أو مستندًا أو ملفًا نصيًا). يرجى إرفاق الصورة "
              "نفسها بإحدى الصيغ التالية: {accepted}؛ وإذا كانت الصورة داخل ملف PDF أو تقرير "
              "فصدّرها أو التقط لقطة شاشة لها أولًا.",
    },
    "image_unsupported_type": {
        "en": "{found} images are not supported. Please convert the image to one of {accepted} "
              "(PNG or JPEG work from any viewer) and attach it again.",
        "ar": "صور {found} غير مدعومة. يرجى تحويل الصورة إلى إحدى الصيغ التالية: {accepted} "
              "(يمكن لأي برنامج عرض التصدير بصيغة PNG أو JPEG) ثم إرفاقها مرة أخرى.",
    },
    "image_corrupt": {
        "en": "The {kind} file is damaged or incomplete and could not be read. Please attach it "
              "again, or re-export it from the viewer or PACS as PNG, JPEG or uncompressed DICOM.",
        "ar": "ملف {kind} تالف أو غير مكتمل وتعذّرت قراءته. يرجى إرفاقه مرة أخرى، أو إعادة تصديره "
              "من برنامج العرض أو نظام PACS بصيغة PNG أو JPEG أو DICOM غير مضغوط.",
    },
    "image_too_large": {
        "en": "The image is too large to process safely: the limits are {limit_mb} MB per file "
              "and {limit_megapixels} million pixels per image. Please export a smaller copy "
              "(for example PNG or JPEG at a lower resolution, or a single frame or slice) and "
              "attach it.",
        "ar": "الصورة أكبر من أن تُعالَج بأمان: الحد الأقصى {limit_mb} ميغابايت للملف و"
              "{limit_megapixels} مليون بكسل للصورة. يرجى تصدير نسخة أصغر (مثل PNG أو JPEG بدقة "
              "أقل، أو إطار أو مقطع واحد فقط) ثم إرفاقها.",
    },
    "dicom_unsupported_transfer_syntax": {
        "en": "This DICOM file is compressed as {syntax}, which cannot be decoded here. Please "
              "export it from the PACS or viewer as uncompressed DICOM (Explicit VR Little "
              "Endian), or as PNG or JPEG, and attach it again.",
        "ar": "ملف DICOM هذا مضغوط بصيغة {syntax} التي يتعذّر فك ترميزها هنا. يرجى تصديره من "
              "نظام PACS أو برنامج العرض كملف DICOM غير مضغوط (Explicit VR Little Endian) أو "
              "بصيغة PNG أو JPEG، ثم إرفاقه مرة أخرى.",
    },
    "dicom_no_pixels": {
        "en": "This DICOM file contains no image (it may be a report, a structured report or a "
              "presentation state). Please attach the DICOM image itself, or export the image as "
              "PNG or JPEG.",
        "ar": "ملف DICOM هذا لا يحتوي على صورة (قد يكون تقريرًا أو تقريرًا منظّمًا أو حالة عرض). "
              "يرجى إرفاق صورة DICOM نفسها، أو تصدير الصورة بصيغة PNG أو JPEG.",
    },
    # A notice, not an error (engine/images.py IntakeNote): a multi-frame file was accepted.
    "dicom_frame_shown": {
        "en": "This DICOM series has {frames} frames; the model sees only frame {frame} (the middle "
              "one). To ask about another frame, export that frame on its own and attach it.",
        "ar": "تحتوي سلسلة DICOM هذه على {frames} إطارًا؛ ولا يرى النموذج إلا الإطار {frame} (الإطار "
              "الأوسط). للسؤال عن إطار آخر، صدّر ذلك الإطار وحده ثم أرفقه.",
    },
    "unknown_adapter": {
        "en": "{model} has no adapter called {adapter}. Loaded: {available}.",
        "ar": "لا يوجد لدى {model} مُكيِّف باسم {adapter}. المُكيِّفات المحمّلة: {available}.",
    },
    "model_needs_gpu": {
        "en": "{model} needs a GPU and this machine has none.",
        "ar": "يحتاج {model} إلى وحدة معالجة رسومية (GPU) ولا توجد واحدة على هذا الجهاز.",
    },
    "model_load_failed": {
        "en": "{model} could not be loaded ({detail}).",
        "ar": "تعذّر تحميل {model} ({detail}).",
    },
    "unknown_model": {
        "en": "There is no model called {model} here. Available: {available}.",
        "ar": "لا يوجد نموذج باسم {model} هنا. النماذج المتاحة: {available}.",
    },
    "remote_unreachable": {
        "en": "The server of {model} cannot be reached ({detail}). Your message was kept; try again "
              "later or choose another model.",
        "ar": "تعذّر الوصول إلى خادم {model} ({detail}). تم الاحتفاظ برسالتك؛ حاول مرة أخرى لاحقًا أو "
              "اختر نموذجًا آخر.",
    },
    "remote_timeout": {
        "en": "The server of {model} did not answer in time. Your message was kept; please try again.",
        "ar": "لم يُجب خادم {model} في الوقت المحدد. تم الاحتفاظ برسالتك؛ يرجى المحاولة مرة أخرى.",
    },
    "remote_auth": {
        "en": "The server of {model} refused the API key. The operator must set the right key "
              "(environment variable {variable}).",
        "ar": "رفض خادم {model} مفتاح الواجهة البرمجية. على المشغّل ضبط المفتاح الصحيح (متغير البيئة "
              "{variable}).",
    },
    "remote_model_missing": {
        "en": "The server at {host} does not serve a model called {model}. It serves: {available}.",
        "ar": "الخادم على {host} لا يقدّم نموذجًا باسم {model}. النماذج التي يقدّمها: {available}.",
    },
    "remote_failed": {
        "en": "The server of {model} refused the request ({detail}). Your message was kept.",
        "ar": "رفض خادم {model} الطلب ({detail}). تم الاحتفاظ برسالتك.",
    },
    "engine_restarting": {
        "en": "The server that runs {model} (vLLM) stopped and is being restarted, about {seconds} s. "
              "Your message was kept; send it again then.",
        "ar": "توقّف الخادم الذي يشغّل {model} (vLLM) وتجري إعادة تشغيله، نحو {seconds} ثانية. "
              "تم الاحتفاظ برسالتك؛ أرسلها مرة أخرى بعد ذلك.",
    },
    "engine_starting": {
        "en": "{model} runs on vLLM, which this app is still starting, about {seconds} s more. "
              "Your message was kept; send it again then.",
        "ar": "يعمل {model} على vLLM، ولا يزال هذا التطبيق يشغّله، نحو {seconds} ثانية أخرى. "
              "تم الاحتفاظ برسالتك؛ أرسلها مرة أخرى بعد ذلك.",
    },
    "engine_failed": {
        "en": "The server that runs {model} (vLLM) stopped several times and was not restarted again. "
              "Your message was kept; please tell the person who runs this app.",
        "ar": "توقّف الخادم الذي يشغّل {model} (vLLM) عدة مرات ولم تُعَد تشغيله. "
              "تم الاحتفاظ برسالتك؛ يرجى إبلاغ من يدير هذا التطبيق.",
    },
    "vllm_unavailable": {
        "en": "vLLM could not be started ({detail}), so {model} runs in this process instead.",
        "ar": "تعذّر تشغيل vLLM ({detail})، لذلك يعمل {model} داخل هذه العملية بدلًا منه.",
    },
    "model_loading": {
        "en": "Loading {model}… this can take a few minutes the first time.",
        "ar": "جارٍ تحميل {model}… قد يستغرق ذلك بضع دقائق في المرة الأولى.",
    },
    "model_kept": {
        "en": "The current model stays in use.",
        "ar": "يبقى النموذج الحالي قيد الاستخدام.",
    },
    "preview_fallback": {
        "en": "The offline preview model is running instead.",
        "ar": "يعمل نموذج المعاينة غير المتصل بدلًا منه.",
    },
    "model_switched": {
        "en": "Now chatting with {model}; the conversation so far was kept.",
        "ar": "المحادثة الآن مع {model}؛ وقد احتُفظ بالمحادثة السابقة.",
    },
    "server_failed": {
        "en": "The server failed while handling the request. Please try again; if it keeps failing, tell "
              "the operator.",
        "ar": "تعذّر على الخادم معالجة الطلب. يرجى المحاولة مرة أخرى؛ وإذا تكرر ذلك فأبلغ المشغّل.",
    },
    # Settings (engine/generation.py) and the API's parameters: each names the setting.
    # The name, the value and the range are isolated (LRI … PDI) so Arabic text keeps them whole.
    "setting_not_a_number": {
        "en": "{name} must be a finite number (it was {value}).",
        "ar": "يجب أن تكون قيمة \u2066{name}\u2069 عددًا منتهيًا (القيمة المُرسلة: \u2066{value}\u2069).",
    },
    "setting_not_an_integer": {
        "en": "{name} must be a whole number (it was {value}).",
        "ar": "يجب أن تكون قيمة \u2066{name}\u2069 عددًا صحيحًا (القيمة المُرسلة: \u2066{value}\u2069).",
    },
    "setting_out_of_range": {
        "en": "{name} must be in {allowed} (it was {value}).",
        "ar": "يجب أن تكون قيمة \u2066{name}\u2069 ضمن \u2066{allowed}\u2069 (القيمة المُرسلة: \u2066{value}\u2069).",
    },
    "reply_longer_than_context": {
        "en": "{name} ({tokens}) leaves no room for the conversation in the model's context ({context} "
              "tokens). Please ask for a shorter reply.",
        "ar": "قيمة \u2066{name}\u2069 ({tokens}) لا تترك مكانًا للمحادثة في سياق النموذج ({context} رمزًا). "
              "يرجى طلب رد أقصر.",
    },
    "conversation_too_long": {
        "en": "The conversation is too long ({size} characters; the limit is {limit}). Please start a new "
              "conversation or leave out older turns.",
        "ar": "المحادثة طويلة جدًا ({size} حرفًا، والحد الأقصى {limit}). يرجى بدء محادثة جديدة أو حذف "
              "الجولات الأقدم.",
    },
    "conversation_too_many_tokens": {
        "en": "The conversation is too long for the model ({tokens} tokens; the limit is {limit}). Please "
              "start a new conversation or leave out older turns.",
        "ar": "المحادثة أطول مما يستطيع النموذج قراءته ({tokens} رمزًا، والحد الأقصى {limit}). يرجى بدء "
              "محادثة جديدة أو حذف الجولات الأقدم.",
    },
    "conversation_too_many_messages": {
        "en": "The conversation has too many messages ({count}; the limit is {limit}). Please start a new "
              "conversation or leave out older turns.",
        "ar": "تحتوي المحادثة على رسائل كثيرة جدًا ({count}، والحد الأقصى {limit}). يرجى بدء محادثة جديدة "
              "أو حذف الجولات الأقدم.",
    },
    # The OpenAI-compatible API's own refusals (engine/openai_api.py, engine/server.py):
    # parameters and paths are isolated (LRI … PDI) so Arabic text keeps them whole.
    "request_not_json": {
        "en": "The request body is not valid JSON.",
        "ar": "جسم الطلب ليس JSON صالحًا.",
    },
    "request_nested_too_deeply": {
        "en": "The request body is nested too deeply.",
        "ar": "جسم الطلب متداخل بعمق أكبر من المسموح.",
    },
    "request_not_an_object": {
        "en": "The request body must be a JSON object.",
        "ar": "يجب أن يكون جسم الطلب كائن JSON.",
    },
    "request_too_large": {
        "en": "The request is larger than {limit_mb} MB.",
        "ar": "الطلب أكبر من {limit_mb} ميغابايت.",
    },
    "request_messages_missing": {
        "en": "messages must be a non-empty list.",
        "ar": "يجب أن تكون \u2066messages\u2069 قائمة غير فارغة.",
    },
    "request_unsupported_role": {
        "en": "{field}: unsupported role {role}; expected one of {roles}.",
        "ar": "\u2066{field}\u2069: الدور \u2066{role}\u2069 غير مدعوم؛ الأدوار المقبولة: \u2066{roles}\u2069.",
    },
    "request_system_not_first": {
        "en": "System messages must come first.",
        "ar": "يجب أن تأتي رسائل النظام (\u2066system\u2069) أولًا.",
    },
    "request_turns_not_alternating": {
        "en": "After the system messages, turns must alternate user and assistant, starting and ending "
              "with the user.",
        "ar": "بعد رسائل النظام يجب أن تتناوب الأدوار بين \u2066user\u2069 و\u2066assistant\u2069، بدءًا "
              "بالمستخدم وانتهاءً به.",
    },
    "request_last_not_user": {
        "en": "The last message must be the user's.",
        "ar": "يجب أن تكون الرسالة الأخيرة من المستخدم (\u2066user\u2069).",
    },
    "request_content_not_parts": {
        "en": "{field} must be a string or a list of parts.",
        "ar": "يجب أن تكون \u2066{field}\u2069 نصًا أو قائمة أجزاء.",
    },
    "request_unsupported_part": {
        "en": "{field}: unsupported part type {kind} (text and image_url are supported).",
        "ar": "\u2066{field}\u2069: نوع الجزء \u2066{kind}\u2069 غير مدعوم (المدعوم: \u2066text\u2069 "
              "و\u2066image_url\u2069).",
    },
    "request_image_not_from_user": {
        "en": "{field}: only user messages may carry images.",
        "ar": "\u2066{field}\u2069: رسائل المستخدم وحدها يمكن أن تحمل صورًا.",
    },
    "request_too_many_images": {
        "en": "At most {limit} images per request.",
        "ar": "الحد الأقصى {limit} صور في الطلب الواحد.",
    },
    "request_image_url_not_string": {
        "en": "{field}: image_url.url must be a string.",
        "ar": "\u2066{field}\u2069: يجب أن تكون \u2066image_url.url\u2069 نصًا.",
    },
    "request_image_url_fetched": {
        "en": "Image URLs are not fetched: send the image inline as a base64 data: URL "
              "(data:image/png;base64,...; DICOM as data:application/dicom;base64,...).",
        "ar": "لا تُجلب الصور من روابط: أرسل الصورة ضمن الطلب كرابط \u2066data:\u2069 بترميز base64 "
              "(\u2066data:image/png;base64,...\u2069؛ وملف DICOM كـ\u2066data:application/dicom;base64,...\u2069).",
    },
    "request_image_url_not_data": {
        "en": "{field}: image_url.url must be a base64 data: URL.",
        "ar": "\u2066{field}\u2069: يجب أن تكون \u2066image_url.url\u2069 رابط \u2066data:\u2069 بترميز base64.",
    },
    "request_image_base64_invalid": {
        "en": "{field}: the base64 data of image_url.url is not valid.",
        "ar": "\u2066{field}\u2069: بيانات base64 في \u2066image_url.url\u2069 غير صالحة.",
    },
    "request_stop_invalid": {
        "en": "stop must be a string or a list of up to {limit} non-empty strings.",
        "ar": "يجب أن تكون \u2066stop\u2069 نصًا أو قائمة من {limit} نصوص غير فارغة على الأكثر.",
    },
    "request_reply_language_invalid": {
        "en": "reply_language must be one of {allowed}.",
        "ar": "يجب أن تكون \u2066reply_language\u2069 إحدى القيم: \u2066{allowed}\u2069.",
    },
    "request_n_unsupported": {
        "en": "Only n=1 is supported.",
        "ar": "القيمة الوحيدة المدعومة هي \u2066n=1\u2069.",
    },
    "request_stream_invalid": {
        "en": "stream must be true or false.",
        "ar": "يجب أن تكون \u2066stream\u2069 إما \u2066true\u2069 أو \u2066false\u2069.",
    },
    "request_stream_options_invalid": {
        "en": "stream_options must be an object.",
        "ar": "يجب أن تكون \u2066stream_options\u2069 كائنًا.",
    },
    "request_api_key_invalid": {
        "en": "Incorrect or missing API key (Authorization: Bearer ...).",
        "ar": "مفتاح الواجهة البرمجية خاطئ أو مفقود (\u2066Authorization: Bearer ...\u2069).",
    },
    "request_route_not_found": {
        "en": "There is nothing at {path}. The API: GET /v1/models, POST /v1/chat/completions, POST /tokenize.",
        "ar": "لا يوجد شيء على \u2066{path}\u2069. الواجهة البرمجية: \u2066GET /v1/models\u2069، "
              "\u2066POST /v1/chat/completions\u2069، \u2066POST /tokenize\u2069.",
    },
    "request_method_not_allowed": {
        "en": "{method} is not allowed on {path}.",
        "ar": "الطريقة \u2066{method}\u2069 غير مسموحة على \u2066{path}\u2069.",
    },
    # `python -m engine chat`: said when it starts and on /help (engine/__main__.py).
    "cli_commands": {
        "en": "Type a message and press Enter. Commands: /image PATH attaches an image or DICOM file to the "
              "next message, /clear starts a new conversation, /adapter [NAME|none] lists or switches "
              "adapters, /help shows this, /exit quits. Ctrl-C stops a reply.",
        "ar": "اكتب رسالتك ثم اضغط Enter. الأوامر: ⁦/image PATH⁩ يرفق صورة أو ملف DICOM بالرسالة "
              "التالية، ⁦/clear⁩ يبدأ محادثة جديدة، ⁦/adapter [NAME|none]⁩ يعرض المُكيِّفات "
              "أو يبدّل بينها، ⁦/help⁩ يعرض هذه التعليمات، ⁦/exit⁩ للخروج. "
              "⁦Ctrl-C⁩ يوقف الرد.",
    },
    "request_invalid": {
        "en": "The request is not valid ({detail}).",
        "ar": "الطلب غير صالح (\u2066{detail}\u2069).",
    },
})


class UserFacingError(Exception):
    """A problem caused by the input or the situation, not a bug."""

    messages: MappingProxyType = MESSAGES  # code -> {"en": ..., "ar": ...}; subclasses bring their own

    def __init__(self, code: str, **params):
        if code not in self.messages:
            raise KeyError(f"no {type(self).__name__} message for error code {code!r}")
        self.code = code
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        texts = self.messages[self.code]
        return texts.get(lang, texts["en"]).format(**self.params)


class InvalidSetting(UserFacingError, ValueError):
    """A setting no model can take (a sampling setting, a reply length): its `name` says which,
    so a form or an API can point at it. Also a ValueError, as invalid settings were before."""

    @property
    def name(self) -> str:
        return self.params["name"]


def notice(code: str, lang: str = "en", **params) -> str:
    """A message that informs without being an error (e.g. trimmed history)."""
    texts = MESSAGES[code]
    return texts.get(lang, texts["en"]).format(**params)
