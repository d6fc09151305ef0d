"""Versioned reference tables shipped with veil (read with importlib.resources)."""
