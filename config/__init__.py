"""Gateway settings: the only place that reads environment variables."""

from config.settings import load_settings

__all__ = ["load_settings"]
