"""Prompt formats as data: one read-only registry of frozen dataclasses.

Each format renders structured messages into a `RenderedPrompt`: the prompt text plus
its segments, where every segment says whether it came from the template (trusted:
may contain control tokens) or from a person (untrusted: always plain text). The
encoder (engine/encoding.py) relies on that split so that a user typing `<|eot_id|>`,
`</s>`, `[INST]` or `<image>` never injects a control token or a phantom image. The
trainer uses the same segments to build loss masks (assistant segments are trainable).

Exact strings are copied from the models' own training code and pinned by golden tests:
- BiMediX (Mixtral): FastChat's `vicuna_v1.1` (BiMediX was tuned with FastChat/Axolotl
  on Vicuna-style `conversations` data).
- BiMediX2 (Llama-3.1 LMM): the `conv_llama3` of BiMediX2's own inference code
  (LLaVA-pp, `SeparatorStyle.MPT`, `<|eot_id|>` separators, BOS inside the system text).
- preview (Gemma-3-270M base): a plain transcript with stop strings.

The reply language is asked for where the model writes, not in the system prompt (a base
model follows an instruction only when it sits close to where it writes): with
`render(..., reply_language=...)`, a format's `reply_note` closes the newest user turn and
its `reply_lead_ins` (the transcript's) open the reply. Both are the template's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Sequence

from engine.messages import Message
from engine.role_markers import RoleMarkers

IMAGE_PLACEHOLDER = "<image>"

# Said to the model in the reply language itself, which steers small models best.
REPLY_INSTRUCTIONS = MappingProxyType({
    "ar": "أجب باللغة العربية.",
    "en": "Answer in English.",
})


def _instruction(language: str) -> str:
    try:
        return REPLY_INSTRUCTIONS[language]
    except KeyError:
        raise ValueError(f"unknown reply language {language!r}; expected one of {tuple(REPLY_INSTRUCTIONS)}") from None


@dataclass(frozen=True)
class Segment:
    """A run of prompt text. `trusted` text may hold control tokens; `role` says whose
    words it is (assistant segments are what a trainer learns to produce)."""

    text: str
    trusted: bool
    role: str = "template"
    images: int = 0  # image placeholders this segment stands for (trusted segments only)


@dataclass(frozen=True)
class RenderedPrompt:
    segments: tuple[Segment, ...]
    stop_strings: tuple[str, ...]
    add_bos: bool

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments)

    @property
    def image_count(self) -> int:
        return sum(segment.images for segment in self.segments)


def _check_order(messages: Sequence[Message]) -> tuple[Message | None, list[Message]]:
    """Split off an optional leading system message; the rest must alternate user/assistant."""
    system = messages[0] if messages and messages[0].role == "system" else None
    turns = list(messages[1:] if system else messages)
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.role != expected:
            raise ValueError(
                f"message {index} after the system prompt is {message.role!r}, expected {expected!r}:"
                " conversations alternate user and assistant turns"
            )
    return system, turns


def _image_prefix(message: Message, placeholder: str) -> Segment | None:
    # LLaVA's convention: images go before the text of their turn, one placeholder each,
    # followed by a newline (`<image>\n{question}`).
    if not message.images:
        return None
    return Segment((placeholder + "\n") * len(message.images), True, "template", len(message.images))


@dataclass(frozen=True)
class RoleSeparatedFormat:
    """Formats of the shape: system, then `role_prefix + content + separator` per turn.

    Covers FastChat's ADD_COLON_TWO (Vicuna) and LLaVA's MPT (conv_llama3) styles and our
    transcript format: they differ only in the strings below.
    """

    name: str
    description: str
    default_system: str
    system_template: str  # "{system}" is replaced; ends where the first turn begins
    user_prefix: str
    assistant_prefix: str
    user_suffix: str
    assistant_suffix: str
    generation_prefix: str  # what opens the assistant turn the model must complete
    stop_strings: tuple[str, ...]
    add_bos: bool
    supports_images: bool = False
    # Role names that open a turn as plain text: typed in a turn (in any case, spacing or
    # invisible characters: engine/role_markers.py), they would forge another, so their
    # colon becomes "：".
    role_markers: RoleMarkers | None = None
    # Asking for the reply language (render's `reply_language`): the note ends the newest
    # user turn ("{instruction}": REPLY_INSTRUCTIONS), the lead-in, (language, text) pairs,
    # follows the generation prefix: the reply's first words, written in that language.
    reply_note: str = "\n\n{instruction}"
    reply_lead_ins: tuple[tuple[str, str], ...] = ()

    def render(self, messages: Sequence[Message], system_prompt: str | None = None,
               reply_language: str | None = None) -> RenderedPrompt:
        """Render messages; a trailing user turn gets the generation prefix and, with
        `reply_language`, the note and lead-in that ask for that language."""
        note = self.reply_note.format(instruction=_instruction(reply_language)) if reply_language else ""
        system, turns = _check_order(messages)
        system_text = system.content if system else (system_prompt or self.default_system)
        head, tail = self.system_template.split("{system}")
        segments = [Segment(head, True)]
        if system_text:
            # Not defused: the system prompt is the operator's, and the preview's holds
            # example turns on purpose.
            segments.append(Segment(system_text, False, "system"))
        segments.append(Segment(tail, True))
        for message in turns:
            segments.extend(self._turn(message))
        if turns and turns[-1].role == "user":
            segments.insert(len(segments) - 1, Segment(note, True))  # before the user suffix
            segments.append(Segment(self.generation_prefix, True))
            segments.append(Segment(dict(self.reply_lead_ins).get(reply_language, ""), True))
        return RenderedPrompt(tuple(s for s in segments if s.text), self.stop_strings, self.add_bos)

    def _turn(self, message: Message) -> list[Segment]:
        if message.role == "user":
            image = _image_prefix(message, IMAGE_PLACEHOLDER) if self.supports_images else None
            return [Segment(self.user_prefix, True), *([image] if image else []),
                    Segment(self._written(message.content), False, "user"), Segment(self.user_suffix, True)]
        # The generation prefix is exactly how an assistant turn starts, so that
        # render(messages[:k]) is a prefix of render(messages).
        return [Segment(self.generation_prefix, True),
                Segment(self.assistant_prefix, True),
                Segment(self._written(message.content), False, "assistant"),
                Segment(self.assistant_suffix, True, "assistant")]

    def _written(self, text: str) -> str:
        """Person- or model-written text, with nothing that reads as a role marker."""
        return self.role_markers.defuse(text) if self.role_markers else text


VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

# FastChat `vicuna_v1.1`: sep=" ", sep2="</s>", roles USER/ASSISTANT, ADD_COLON_TWO.
# get_prompt(): system + " " + "USER: q" + " " + "ASSISTANT: a" + "</s>" ... + "ASSISTANT:"
VICUNA = RoleSeparatedFormat(
    name="vicuna",
    description="FastChat vicuna_v1.1 (BiMediX, Mixtral 8x7B)",
    default_system=VICUNA_SYSTEM,
    system_template="{system} ",
    user_prefix="USER: ",
    user_suffix=" ",
    generation_prefix="ASSISTANT:",
    assistant_prefix=" ",
    assistant_suffix="</s>",
    stop_strings=("</s>", "USER:"),
    add_bos=True,
    # Vicuna's turns follow one another on one line: a marker anywhere would open one.
    role_markers=RoleMarkers(("USER", "ASSISTANT"), anywhere=True),
)

# BiMediX2's conv_llama3 (SeparatorStyle.MPT): system + sep, then role + message + sep;
# an open turn is just the role. The system text starts with <|begin_of_text|>, so the
# tokenizer must not add another BOS.
LLAMA3_LLAVA = RoleSeparatedFormat(
    name="llama3_llava",
    description="LLaVA-pp conv_llama3 as in BiMediX2's inference code (BiMediX2, Llama-3.1 LMM)",
    default_system=VICUNA_SYSTEM,
    system_template="<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>",
    user_prefix="<|start_header_id|>user<|end_header_id|>\n\n",
    user_suffix="<|eot_id|>",
    generation_prefix="<|start_header_id|>assistant<|end_header_id|>\n\n",
    assistant_prefix="",
    assistant_suffix="<|eot_id|>",
    stop_strings=("<|eot_id|>",),
    add_bos=False,
    supports_images=True,
    # The turns are control tokens, but BiMediX's own markers (Vicuna's) on a line of their
    # own still read as a turn to a model tuned from it.
    role_markers=RoleMarkers(("USER", "ASSISTANT")),
)

TRANSCRIPT_SYSTEM = (
    "The following is a conversation between a user and a knowledgeable, careful assistant. "
    "The assistant answers in the same language as the user, Arabic or English."
)

# A base model knows no chat template: a plain transcript is what it continues best.
# The stop strings end the reply when the model starts writing the user's next line.
TRANSCRIPT = RoleSeparatedFormat(
    name="transcript",
    description="plain transcript for base models (offline preview)",
    default_system=TRANSCRIPT_SYSTEM,
    system_template="{system}\n\n",
    user_prefix="User: ",
    user_suffix="\n",
    generation_prefix="Assistant:",
    assistant_prefix=" ",
    assistant_suffix="\n",
    stop_strings=("\nUser:", "\nAssistant:", "\n\n\n"),
    add_bos=True,
    role_markers=RoleMarkers(("User", "Assistant")),
    # A base model goes on in the language it is already writing rather than follow an
    # instruction: its reply opens with a word in the reply language (part of the prompt, not
    # of the reply). evaluate.reply_language on the preview: 77% of replies in the chosen
    # language with the instruction in the system prompt (69% of those that switch language),
    # 100% with these; a bracketed "[أجب باللغة العربية.]" just before the turn instead left
    # 14 of 17 Arabic replies in English.
    reply_note="",
    reply_lead_ins=(("ar", " الجواب:"), ("en", " Answer:")),
)


@dataclass(frozen=True)
class ChatTemplateFormat:
    """The checkpoint's own Jinja chat template (local models).

    Contents are rendered as unique sentinels and swapped back afterwards, so we know
    exactly which characters came from the person and which from the template.
    """

    apply_chat_template: Callable[..., str]
    stop_strings: tuple[str, ...] = ()
    name: str = "chat_template"
    description: str = "the checkpoint's own chat template"
    default_system: str = ""
    supports_images: bool = False
    add_bos: bool = False  # templates write their own BOS
    reply_note: str = "\n\n{instruction}"  # as RoleSeparatedFormat's: ends the newest user turn

    def render(self, messages: Sequence[Message], system_prompt: str | None = None,
               reply_language: str | None = None) -> RenderedPrompt:
        note = self.reply_note.format(instruction=_instruction(reply_language)) if reply_language else ""
        system, turns = _check_order(messages)
        if system is None and system_prompt:
            system = Message("system", system_prompt)
        ordered = ([system] if system else []) + turns
        sentinels = [f"\ue000{index}\ue001" for index in range(len(ordered))]
        opens_reply = bool(turns) and turns[-1].role == "user"
        # The note follows the newest user message's sentinel: the template's text, after it.
        contents = [*sentinels[:-1], sentinels[-1] + note if opens_reply else sentinels[-1]] if ordered else []
        text = self.apply_chat_template(
            [{"role": m.role, "content": c} for m, c in zip(ordered, contents)],
            add_generation_prompt=opens_reply,
        )
        segments: list[Segment] = []
        for message, sentinel in zip(ordered, sentinels):
            before, found, text = text.partition(sentinel)
            if not found:
                raise ValueError(f"the chat template dropped the {message.role} message")
            segments += [Segment(before, True), Segment(message.content, False, message.role)]
        segments.append(Segment(text, True))
        return RenderedPrompt(tuple(s for s in segments if s.text), self.stop_strings, self.add_bos)


PromptFormat = RoleSeparatedFormat | ChatTemplateFormat

FORMATS: MappingProxyType[str, RoleSeparatedFormat] = MappingProxyType(
    {fmt.name: fmt for fmt in (VICUNA, LLAMA3_LLAVA, TRANSCRIPT)}
)


def get_format(name: str) -> RoleSeparatedFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown prompt format {name!r}; known: {', '.join(FORMATS)}") from None


def chat_template_format(tokenizer) -> ChatTemplateFormat:
    """Wrap a tokenizer's chat template; its EOS and end-of-turn tokens become stop strings."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("this tokenizer has no chat template; name a prompt format instead")

    def apply(conversation, add_generation_prompt):
        return tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    stops = [tokenizer.eos_token] if tokenizer.eos_token else []
    stops += [t for t in ("<|eot_id|>", "<end_of_turn>", "<|im_end|>", "<|end|>")
              if t in tokenizer.get_vocab() and t not in stops]
    return ChatTemplateFormat(apply, tuple(stops))
