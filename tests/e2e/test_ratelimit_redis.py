"""Shared rate limits: two gateway instances (2 workers each) counting in one real Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from app.ratelimit.limits import Limits, StoreUnavailable
from app.ratelimit.redis_store import PREFIX, RedisStore
from tests.support.openai_checks import check_chat_completion, check_error
from tests.support.servers import free_port, start_gateway
from tests.unit.keys_helpers import CHAT, sha256_hex, write_keys_file

pytestmark = pytest.mark.slow

BURST_KEY, TOKENS_KEY = "sk-burst-6a1f", "sk-tokens-2c9e"
RPM, TPM, WINDOW = 10, 100_000, 5
MODELS = {"backends": {"mock": {"type": "mock"}}, "models": [{"id": "mock", "backend": "mock"}]}
ENTRIES = [
    {"name": "burst", "key_sha256": sha256_hex(BURST_KEY), "rpm": RPM},
    {"name": "tokens", "key_sha256": sha256_hex(TOKENS_KEY), "tpm": TPM},
]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A private redis-server on a free loopback port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    tmp: Path = tmp_path_factory.mktemp("redis")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--dir", str(tmp), "--daemonize", "no"]
    with open(tmp / "redis.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp / "redis.log").read_text()) from None
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def redis_client(redis_url):
    """A plain client on the test's Redis, to look at the windows."""
    client = redis.Redis.from_url(url=redis_url, socket_timeout=1)
    yield client
    client.close()


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, redis_url):
    """Two gateway instances with two workers each, sharing the Redis and a 5-second window."""
    tmp: Path = tmp_path_factory.mktemp("gateways")
    env = {
        "GATEWAY_API_KEYS": "",
        "KEYS_FILE": write_keys_file(tmp, ENTRIES),
        "REDIS_URL": redis_url,
        "RATE_LIMIT_WINDOW_SECONDS": str(WINDOW),
    }
    servers = []
    try:
        for _ in range(2):
            servers.append(start_gateway(tmp, MODELS, env=env, workers=2))
        yield [server.url for server in servers]
    finally:
        for server in servers:
            server.stop()


def chat(url: str, key: str) -> requests.Response:
    """One chat completion request on a connection of its own (closed, so stops are quick)."""
    return requests.post(
        f"{url}/v1/chat/completions",
        json=CHAT,
        headers={"Authorization": f"Bearer {key}", "Connection": "close"},
        timeout=30,
    )


def reset_seconds(text: str) -> float:
    """Seconds of an OpenAI duration under a minute ("4.98s", "20ms")."""
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


def test_a_burst_on_two_instances_admits_exactly_the_limit(gateways):
    urls = [gateways[i % 2] for i in range(40)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda url: chat(url, BURST_KEY), urls))
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(admitted) == RPM and len(refused) == 40 - RPM
    # Each admitted request saw a different count: no two processes read the same value.
    remaining = sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in admitted)
    assert remaining == list(range(RPM))
    for response in admitted:
        check_chat_completion(response.json())
    for response in refused:
        error = check_error(response.json(), 429)
        assert (error.type, error.code) == ("requests", "rate_limit_exceeded")
        assert f"Limit {RPM}, Used {RPM}, Requested 1" in error.message
        assert response.headers["x-ratelimit-limit-requests"] == str(RPM)
        assert response.headers["x-ratelimit-remaining-requests"] == "0"
        assert 0 < reset_seconds(response.headers["x-ratelimit-reset-requests"]) <= WINDOW
        assert 1 <= int(response.headers["Retry-After"]) <= WINDOW
    # Once the window has ended, the key starts again with a full allowance.
    time.sleep(max(reset_seconds(r.headers["x-ratelimit-reset-requests"]) for r in refused) + 0.2)
    again = [chat(gateways[1], BURST_KEY), chat(gateways[0], BURST_KEY)]
    assert [r.status_code for r in again] == [200, 200]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in again] == [
        str(RPM - 1),
        str(RPM - 2),
    ]


def test_tokens_settled_on_one_instance_count_on_the_other(gateways, redis_client):
    first = chat(gateways[0], TOKENS_KEY)
    assert first.status_code == 200
    estimate = TPM - int(first.headers["x-ratelimit-remaining-tokens"])
    used = first.json()["usage"]["total_tokens"]
    assert used > estimate  # the completion is charged once the response has ended
    # The key's counter is named from its digest, never from its name.
    window = PREFIX + sha256_hex(TOKENS_KEY)[:32]
    deadline = time.monotonic() + 10
    while int(redis_client.hget(window, "tokens") or 0) != used:
        assert time.monotonic() < deadline, "the usage was never settled in Redis"
        time.sleep(0.02)
    second = chat(gateways[1], TOKENS_KEY)
    assert second.headers["x-ratelimit-remaining-tokens"] == str(TPM - used - estimate)


def test_redis_store_is_atomic_and_settles_only_its_window(redis_url):
    store = RedisStore(redis_url, window=60)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(
                pool.map(lambda _: store.take("atomic", Limits(rpm=25, tpm=0), 3), range(80))
            )
        admitted = [o for o in outcomes if o.exceeded is None]
        assert sorted(o.requests for o in admitted) == list(range(1, 26))
        assert {o.exceeded for o in outcomes if o.exceeded} == {"requests"}
        assert len({o.window_id for o in outcomes}) == 1
        store.adjust("atomic", admitted[0].window_id, -10)
        store.adjust("atomic", "another-window", 1000)
        after = store.take("atomic", Limits(tpm=1000), 0)
        assert after.tokens == 25 * 3 - 10
        assert 0 < after.reset <= 60
    finally:
        store.close()


def test_a_command_redis_refuses_is_no_outage(redis_url):
    store = RedisStore(redis_url, window=60)
    try:
        window = store.take("refused", Limits(tpm=1000), 1).window_id
        with pytest.raises(StoreUnavailable):
            store.adjust("refused", window, 2.5)  # type: ignore[arg-type]  # a Lua error
        # Redis answered: the next command runs at once, without the outage's cool-down.
        assert store.take("refused", Limits(tpm=1000), 1).tokens == 2
    finally:
        store.close()


def test_unreachable_redis_fails_open_and_logs_an_error(tmp_path):
    env = {
        "GATEWAY_API_KEYS": "",
        "KEYS_FILE": write_keys_file(tmp_path, ENTRIES),
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    server = start_gateway(tmp_path, MODELS, env=env)
    try:
        responses = [chat(server.url, BURST_KEY) for _ in range(RPM + 3)]
        assert [r.status_code for r in responses] == [200] * (RPM + 3)
        for response in responses:
            check_chat_completion(response.json())
            assert "x-ratelimit-limit-requests" not in response.headers
    finally:
        server.stop()
    output = server.output()
    logged = [line for line in output.splitlines() if "Redis is unreachable" in line]
    assert logged and all("ERROR" in line for line in logged)
    assert BURST_KEY not in output
