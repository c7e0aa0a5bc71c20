"""The chat screen: a streaming multi-turn chat on one loaded model.

Each browser tab gets its own ChatSession (gr.State), so one user's conversation never
shows in another's window; the loaded weights are shared.
"""

from __future__ import annotations

import gradio as gr

from engine.errors import UserFacingError
from engine.generation import GenerationSettings
from engine.language import reply_language
from engine.loading import LoadedModel
from engine.session import ChatSession

DISCLAIMER = (
    "Research demo: not a medical device and not medical advice. Consult a qualified clinician. "
    "Conversations stay in your browser and are not stored on the server.  \n"
    "عرض بحثي: ليس جهازًا طبيًا ولا يقدّم نصيحة طبية. استشر طبيبًا مختصًا. "
    "تبقى المحادثات في متصفحك ولا تُحفظ على الخادم."
)
LANGUAGE_CHOICES = [("auto", "auto"), ("العربية", "ar"), ("English", "en")]


def model_banner(loaded: LoadedModel, fallback_reason: str = "") -> str:
    card = loaded.card
    lines = [f"**{card.title}** — {card.description}"]
    if card.notice:
        lines.append(f"⚠️ {card.notice}")
    if fallback_reason:
        lines.append(f"ℹ️ {fallback_reason}")
    return "  \n".join(lines)


def build_chat_app(loaded: LoadedModel, fallback_reason: str = "", max_concurrency: int = 1) -> gr.Blocks:
    with gr.Blocks(title="BiMediX Chat") as demo:
        gr.Markdown("# BiMediX Chat")
        gr.Markdown(model_banner(loaded, fallback_reason), elem_id="model-card")
        session = gr.State(None)
        chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="chatbot")
        with gr.Row():
            message = gr.Textbox(placeholder="Type a message / اكتب رسالتك", show_label=False, scale=5)
            send = gr.Button("Send / إرسال", variant="primary", scale=1)
            stop = gr.Button("Stop / إيقاف", scale=1)
            clear = gr.Button("Clear / مسح", scale=1)
        with gr.Accordion("Settings / الإعدادات", open=False):
            language = gr.Radio(LANGUAGE_CHOICES, value="auto", label="Reply language / لغة الرد")
            temperature = gr.Slider(0, 1.5, value=0.7, step=0.05, label="Temperature")
            max_tokens = gr.Slider(16, 2048, value=512, step=16, label="Max new tokens")
        gr.Markdown(DISCLAIMER, elem_id="disclaimer")

        def respond(text, history, state, lang, temp, max_new):
            state = state or ChatSession(loaded)
            state.language_policy = lang
            state.settings = GenerationSettings(temperature=temp, max_new_tokens=int(max_new))
            history = list(history or [])
            try:
                reply = state.send(text)
            except UserFacingError as error:
                gr.Warning(error.message(reply_language(text or "", lang, state.last_language)))
                yield history, text, state
                return
            for line in reply.notices():
                gr.Info(line)
            history += [{"role": "user", "content": text}, {"role": "assistant", "content": ""}]
            try:
                for chunk in reply:
                    history[-1] = {"role": "assistant", "content": reply.text}
                    yield history, "", state
            except UserFacingError as error:
                gr.Warning(error.message(reply.language))
            finally:
                reply.close()  # Stop or a closed tab ends generation at once
            yield history, "", state

        def reset(state):
            if state:
                state.clear()
            return [], state

        inputs = [message, chatbot, session, language, temperature, max_tokens]
        outputs = [chatbot, message, session]
        events = [
            send.click(respond, inputs, outputs, concurrency_limit=max_concurrency, concurrency_id="generate"),
            message.submit(respond, inputs, outputs, concurrency_limit=max_concurrency, concurrency_id="generate"),
        ]
        stop.click(None, cancels=events)
        clear.click(reset, [session], [chatbot, session])
    return demo
