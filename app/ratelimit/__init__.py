"""Per-key rate limits: requests and tokens per window, in this process or shared through Redis."""

from app.ratelimit.hooks import admit, init_app

__all__ = ["admit", "init_app"]
