"""Rate-limit windows in Redis, shared by every worker and instance that uses the same server.

Each key's window is one Redis hash (`id`, `requests`, `tokens`) that expires when the window
ends. Both operations are Lua scripts, so Redis runs each one atomically: concurrent requests
from any number of processes never read a count and write it back over one another. The time
left is the hash's own PTTL, so instances need no shared clock.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from app.ratelimit.limits import Limits, Outcome, StoreUnavailable

log = logging.getLogger(__name__)

PREFIX = "gateway:ratelimit:"
# After a failure, skip Redis this long so requests do not each wait for a timeout.
_COOL_DOWN = 1.0
# While Redis stays unreachable, repeat the error in the log at most this often.
_LOG_EVERY = 60.0

# KEYS[1] window hash; ARGV: window ms, rpm, tpm, cost, id for a new window.
_TAKE = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'id', ARGV[5], 'requests', 0, 'tokens', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
local state = redis.call('HMGET', KEYS[1], 'id', 'requests', 'tokens')
local requests, tokens = tonumber(state[2]), tonumber(state[3])
local rpm, tpm, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local exceeded = ''
if rpm > 0 and requests + 1 > rpm then
  exceeded = 'requests'
elseif tpm > 0 and tokens + cost > tpm then
  exceeded = 'tokens'
else
  requests = redis.call('HINCRBY', KEYS[1], 'requests', 1)
  tokens = redis.call('HINCRBY', KEYS[1], 'tokens', cost)
end
return {exceeded, state[1], requests, tokens, ttl}
"""

# KEYS[1] window hash; ARGV: window id, token delta. Only the window the request was counted in.
_ADJUST = """
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  if redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[2]) < 0 then
    redis.call('HSET', KEYS[1], 'tokens', 0)
  end
end
return 0
"""


class RedisStore:
    """Fixed windows per key in Redis, through a small pool with short timeouts."""

    def __init__(self, url: str, window: float, timeout: float = 0.5) -> None:
        self.window_ms = max(1, round(window * 1000))
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=64,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A retried script could count a request twice; a failure fails open or closed.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
        self.client = redis.Redis(connection_pool=pool)
        self._take = self.client.register_script(_TAKE)
        self._adjust = self.client.register_script(_ADJUST)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down_since: float | None = None
        self._logged = 0.0

    def take(self, bucket: str, limits: Limits, cost: int) -> Outcome:
        """Admit one request costing `cost` tokens if it fits in the key's window."""
        args = [self.window_ms, limits.rpm, limits.tpm, cost, uuid.uuid4().hex]
        verdict, window_id, requests, tokens, ttl = self._run(self._take, bucket, args)
        return Outcome(
            verdict.decode() or None, window_id.decode(), int(requests), int(tokens), ttl / 1000
        )

    def adjust(self, bucket: str, window_id: str, delta: int) -> None:
        """Add `delta` tokens to the key's window if it is the one the request was counted in."""
        self._run(self._adjust, bucket, [window_id, delta])

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()

    def _run(self, script: Script, bucket: str, args: list) -> list:
        if time.monotonic() < self._down_until:
            raise StoreUnavailable("Redis is unreachable (cooling down after a failure)")
        try:
            result = script(keys=[PREFIX + bucket], args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._failed(exc)
            raise StoreUnavailable(f"Redis is unreachable ({type(exc).__name__})") from exc
        except redis.RedisError as exc:
            # Redis answered, refusing this one command: no outage to wait out.
            raise StoreUnavailable(f"Redis refused a rate-limit command ({exc})") from exc
        if self._down_since is not None:
            with self._lock:
                if self._down_since is not None:
                    log.warning("rate limits: Redis is reachable again")
                    self._down_since = None
        return result

    def _failed(self, exc: redis.RedisError) -> None:
        now = time.monotonic()
        with self._lock:
            self._down_until = now + _COOL_DOWN
            if self._down_since is None or now - self._logged >= _LOG_EVERY:
                if self._down_since is None:
                    self._down_since = now
                self._logged = now
                log.error("rate limits: Redis is unreachable: %s", exc)
