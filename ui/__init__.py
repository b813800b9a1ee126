"""Adaptune's Gradio studio: thin tabs over the engine (``build_app`` in ui.app)."""
