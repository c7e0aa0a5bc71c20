"""BiMediX Chat engine: everything between a conversation and tokens.

The engine never imports gradio; the UI never touches tokens.
"""
