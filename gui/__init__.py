"""Restora's editor: everything a person sees. Talks to the engine only through
`engine/__init__.py`, runs engine compute only on the worker thread, and never
imports torch (the window appears before any model is loaded)."""
