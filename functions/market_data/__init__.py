"""Shared domain package for every Lambda: settings, models, logic and data access."""

__version__ = "1.0.0"
