"""Gradio user interface. Every reply comes from the engine's one call (engine.reply),
through a ChatSession that holds each conversation's history: no tokens here."""
