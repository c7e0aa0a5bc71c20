"""Gradio user interface. Talks to the engine through ChatSession only: no tokens here."""
