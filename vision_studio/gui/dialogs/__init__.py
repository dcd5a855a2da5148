"""Dialogs: import/export, preferences, shortcuts."""
