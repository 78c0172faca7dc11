"""Gateway settings: the only place that reads environment variables."""

from config.settings import load_settings, secret_env_values, secret_from_env, tiktoken_cache_dir

__all__ = ["load_settings", "secret_env_values", "secret_from_env", "tiktoken_cache_dir"]
