"""A small bilingual medical corpus the tiny tokenizers are trained on.

The sentences only need to give BPE something realistic to merge: English clinical
phrasing, Arabic with and without diacritics (harakat), Arabic-Indic digits and mixed
lines, so the learned vocabulary contains both scripts. Anything not covered here still
round-trips through byte fallback (SentencePiece-style) or byte-level BPE (Llama-3-style).
"""

from __future__ import annotations

ENGLISH: tuple[str, ...] = (
    "The patient presents with fever, cough and shortness of breath for three days.",
    "Blood pressure is 140/90 mmHg and the heart rate is 96 beats per minute.",
    "Type 2 diabetes is managed with metformin, diet and regular exercise.",
    "Chest X-ray shows consolidation in the right lower lobe, consistent with pneumonia.",
    "Take one tablet of paracetamol 500 mg every six hours as needed for pain.",
    "Hypertension increases the risk of stroke, heart attack and kidney disease.",
    "Asthma symptoms include wheezing, chest tightness and a persistent cough.",
    "An MRI of the brain was ordered to rule out multiple sclerosis.",
    "The doctor recommended a complete blood count and a lipid panel.",
    "Antibiotics do not work against viral infections such as the common cold.",
    "Children should receive the measles vaccine at twelve months of age.",
    "Iron deficiency anemia causes fatigue, pale skin and dizziness.",
    "What are the side effects of long-term steroid therapy?",
    "Please describe the pain: is it sharp, dull, burning or throbbing?",
    "Drink plenty of water and rest until the symptoms improve.",
    "Seek emergency care if you have chest pain that spreads to your arm.",
    "The radiology report describes a small nodule in the left lung.",
    "Insulin resistance is common in patients with obesity.",
    "A normal fasting glucose level is below 100 mg/dL.",
    "Hello! How can I help you with your health question today?",
)

ARABIC: tuple[str, ...] = (
    "يعاني المريض من حمى وسعال وضيق في التنفس منذ ثلاثة أيام.",
    "ضغط الدم ١٤٠/٩٠ ملم زئبق ومعدل ضربات القلب ٩٦ نبضة في الدقيقة.",
    "يُعالَج داء السكري من النوع الثاني بالميتفورمين والحمية والرياضة المنتظمة.",
    "تُظهر الأشعة السينية للصدر تكثفًا في الفص السفلي الأيمن يتوافق مع الالتهاب الرئوي.",
    "تناول قرصًا واحدًا من الباراسيتامول ٥٠٠ ملغ كل ست ساعات عند الحاجة.",
    "ارتفاع ضغط الدم يزيد خطر السكتة الدماغية والنوبة القلبية وأمراض الكلى.",
    "تشمل أعراض الربو الأزيز وضيق الصدر والسعال المستمر.",
    "طلب الطبيب تصويرًا بالرنين المغناطيسي للدماغ لاستبعاد التصلب المتعدد.",
    "أوصى الطبيب بإجراء تعداد دم كامل وفحص الدهون.",
    "المضادات الحيوية لا تعمل ضد العدوى الفيروسية مثل نزلة البرد.",
    "يجب أن يتلقى الأطفال لقاح الحصبة في عمر اثني عشر شهرًا.",
    "يسبب فقر الدم الناجم عن نقص الحديد التعب وشحوب الجلد والدوخة.",
    "ما هي الآثار الجانبية للعلاج طويل الأمد بالستيرويدات؟",
    "من فضلك صِف الألم: هل هو حاد أم خفيف أم حارق أم نابض؟",
    "اشرب الكثير من الماء واسترح حتى تتحسن الأعراض.",
    "اطلب الرعاية الطارئة إذا كان لديك ألم في الصدر يمتد إلى ذراعك.",
    "يصف تقرير الأشعة عقدة صغيرة في الرئة اليسرى.",
    "مقاومة الإنسولين شائعة لدى المرضى المصابين بالسمنة.",
    "المستوى الطبيعي للغلوكوز الصائم أقل من ١٠٠ ملغ/دل.",
    "مرحبًا! كيف يمكنني مساعدتك في سؤالك الصحي اليوم؟",
    # Fully vocalised lines, so the vocabulary learns letters carrying harakat too.
    "الصِّحَّةُ تَاجٌ عَلَى رُؤُوسِ الأَصِحَّاءِ لَا يَرَاهُ إِلَّا المَرْضَى.",
    "يَجِبُ عَلَى المَرِيضِ أَنْ يَتَنَاوَلَ الدَّوَاءَ بَعْدَ الطَّعَامِ.",
    "الطَّبِيبُ يَفْحَصُ القَلْبَ وَالرِّئَتَيْنِ.",
    "دَرَجَةُ الحَرَارَةِ ٣٨٫٥ دَرَجَةً مِئَوِيَّةً.",
)

MIXED: tuple[str, ...] = (
    "تم تشخيص المريض بـ pneumonia ويحتاج إلى antibiotics لمدة ٧ أيام.",
    "جرعة الـ insulin هي ١٠ وحدات قبل الإفطار (10 units before breakfast).",
    "MRI الدماغ طبيعي، و CT الصدر يظهر nodule صغيرة.",
    "BiMediX يجيب عن الأسئلة الطبية بالعربية والإنجليزية.",
    "Arabic-Indic digits ٠١٢٣٤٥٦٧٨٩ and Western digits 0123456789.",
    "Patient: أشعر بصداع شديد. Doctor: منذ متى بدأ الصداع؟",
)


def sentences() -> list[str]:
    """Every corpus line, in a fixed order (the BPE trainer's input must not vary)."""
    return [*ENGLISH, *ARABIC, *MIXED]
