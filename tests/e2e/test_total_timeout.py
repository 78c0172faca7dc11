"""`total_timeout` through a real gateway (gunicorn, gevent) in front of the faulty upstream.

An upstream silent before its headers (`hang`), mid-body (`stall`, non-stream) or after its
headers (`silent`: before a stream's first event) is answered with a 504 by the deadline, far
sooner than `read_timeout` (twenty times longer) would end the wait: the old behaviour waited
for it. So is an Anthropic stream that stalls after `message_start` (`stall`): the client has
no chunk yet, since the role chunk waits for the first real one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support import procinfo
from tests.support.fault_cells import run_cell
from tests.support.openai_checks import check_error
from tests.support.secret_scan import CLIENT_SECRET, PROVIDER_SECRET
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

READ = 20.0
TOTAL = 1.0
WELL_BEFORE = READ / 2
CLIENT_TIMEOUT = READ + 10
WHOLE = "Upstream `{}` did not send its whole answer within 1 seconds."
FIRST_EVENT = "Upstream `{}` did not send the first event of its stream in time."
# (provider, fault, stream)
CELLS = [
    *[("openai", "hang", stream) for stream in (False, True)],
    ("openai", "stall", False),
    *[("openai", "silent", stream) for stream in (False, True)],
    *[(provider, "hang", stream) for provider in ("gemini", "anthropic") for stream in (0, 1)],
    *[(provider, "stall", False) for provider in ("gemini", "anthropic")],
    *[(provider, "silent", stream) for provider in ("gemini", "anthropic") for stream in (0, 1)],
    ("anthropic", "stall", True),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, faulty_upstream, secret_scan):
    """One gateway worker whose backends wait `READ` between bytes but `TOTAL` for an answer."""
    timeouts = {"connect_timeout": 1, "read_timeout": READ, "total_timeout": TOTAL}
    keyed = {"api_key_env": "FAULTY_UPSTREAM_KEY", **timeouts}
    backends = {
        "openai": {"type": "openai", "base_url": f"{faulty_upstream.url}/v1", **keyed},
        "gemini": {"type": "gemini", "base_url": f"{faulty_upstream.url}/v1beta", **keyed},
        "anthropic": {"type": "anthropic", "base_url": faulty_upstream.url, **keyed},
    }
    # The model ids of `run_cell`: `first/<fault>` for OpenAI, `<provider>/<fault>` otherwise.
    prefixes = {"openai": "first/", "gemini": "gemini/", "anthropic": "anthropic/"}
    routes = [{"id": f"{p}*", "backend": name, "strip_prefix": p} for name, p in prefixes.items()]
    models = {"backends": backends, "models": routes}
    env = {"GATEWAY_API_KEYS": CLIENT_SECRET, "FAULTY_UPSTREAM_KEY": PROVIDER_SECRET}
    server = start_gateway(tmp_path_factory.mktemp("total"), models, env=env)
    server.worker = procinfo.wait_for_workers(server.proc.pid)[0]
    yield server
    server.stop()
    secret_scan.add("total timeout gateway output", server.output())


def test_silent_upstreams_get_a_504_by_the_total_deadline(gateway):
    def one(cell: tuple[str, str, bool]) -> str | None:
        provider, fault, stream = cell
        name = f"{provider}:{fault}/{'stream' if stream else 'json'}"
        try:
            _, result, took = run_cell(
                gateway.url,
                CLIENT_SECRET,
                fault,
                "first",
                bool(stream),
                name,
                CLIENT_TIMEOUT,
                provider,
            )
            assert result.status == 504, f"status {result.status}: {result.body[:300]!r}"
            error = check_error(result.json(), 504)
            expected = (FIRST_EVENT if stream else WHOLE).format(provider)
            assert error.message == expected, error.message
            assert took < WELL_BEFORE, f"the 504 took {took:.1f} s"
        except (AssertionError, requests.RequestException) as exc:
            return f"{name}: {type(exc).__name__}: {exc}"
        return None

    with ThreadPoolExecutor(len(CELLS)) as pool:
        failures = [failure for failure in pool.map(one, CELLS) if failure]
    assert not failures, "\n".join(failures)
    assert procinfo.children(gateway.proc.pid) == [gateway.worker], "the worker was replaced"
    for provider in ("openai", "gemini", "anthropic"):
        _, healthy, _ = run_cell(
            gateway.url, CLIENT_SECRET, "ok", "first", True, "ok", CLIENT_TIMEOUT, provider
        )
        assert healthy.status == 200 and healthy.data[-1] == "[DONE]", healthy.body[:300]
