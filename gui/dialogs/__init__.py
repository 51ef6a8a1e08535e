"""The editor's dialogs: each builds what it shows from the engine's light API."""
