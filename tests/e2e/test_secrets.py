"""Provider keys and client keys never leave the gateway: not in answers, errors, logs, metrics
or exception traces, whatever path a request takes.

A real gateway (gunicorn) is configured with the recognisable secrets: the provider key
through an environment variable the models file names, client keys through a keys file that
holds only an environment variable name and a SHA-256 digest. Requests then take every path
that could quote a key — upstreams that echo it, a backend that crashes with it in its
exception, wrong and forwarded client keys — and everything the gateway wrote is scanned.
"""

from __future__ import annotations

import hashlib

import pytest
import requests
import yaml

from tests.support.secret_scan import CLIENT_SECRET, PROVIDER_SECRET
from tests.support.servers import ServerProcess, free_port, procfile_command

pytestmark = pytest.mark.slow

# A second client key, given to the gateway only as its digest.
HASHED_CLIENT_KEY = "sk-hashed-client-key-77"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, faulty_upstream, secret_scan):
    """A gateway with the leaky backend, an echoing upstream and a forwarding backend."""
    tmp = tmp_path_factory.mktemp("secrets")
    keys = {
        "keys": [
            {"name": "from-env", "key_env": "SECRETS_CLIENT_KEY"},
            {
                "name": "from-digest",
                "key_sha256": hashlib.sha256(HASHED_CLIENT_KEY.encode()).hexdigest(),
            },
        ]
    }
    base_url = f"{faulty_upstream.url}/v1"
    upstream_options = {"type": "openai", "base_url": base_url, "read_timeout": 5}
    models = {
        "backends": {
            "leaky": {"type": "leaky", "api_key_env": "SECRETS_PROVIDER_KEY"},
            "echo": {**upstream_options, "api_key_env": "SECRETS_PROVIDER_KEY"},
            "forward": {**upstream_options, "forward_client_key": True},
        },
        "models": [
            {"id": "crash", "backend": "leaky"},
            {"id": "crash-stream", "backend": "leaky"},
            {"id": "echo/*", "backend": "echo", "strip_prefix": "echo/"},
            {"id": "forward/*", "backend": "forward", "strip_prefix": "forward/"},
        ],
    }
    (tmp / "keys.yaml").write_text(yaml.safe_dump(keys))
    (tmp / "models.yaml").write_text(yaml.safe_dump(models))
    port = free_port()
    argv = [
        "tests.fakes.leaky_wsgi:app" if arg == "wsgi:app" else arg for arg in procfile_command()
    ]
    env = {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "MODELS_FILE": str(tmp / "models.yaml"),
        "KEYS_FILE": str(tmp / "keys.yaml"),
        "SECRETS_CLIENT_KEY": CLIENT_SECRET,
        "SECRETS_PROVIDER_KEY": PROVIDER_SECRET,
        "LOG_LEVEL": "DEBUG",
        "GUNICORN_ACCESS_LOG": "-",
        "GUNICORN_GRACEFUL_TIMEOUT": "2",
    }
    server = ServerProcess(argv, port, env, tmp / "gateway.log").wait_ready()
    yield server
    server.stop()
    secret_scan.add("secrets gateway output", server.output())


def call(gateway, secret_scan, model: str, key: str, **extra) -> requests.Response:
    """POST a chat request and hand the whole answer to the scan."""
    response = requests.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": model, "messages": HI, **extra},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    secret_scan.add(f"{model} answer", response.content)
    secret_scan.add(f"{model} headers", response.headers.items())
    return response


@pytest.mark.parametrize("key", [CLIENT_SECRET, HASHED_CLIENT_KEY])
def test_keys_from_an_env_name_and_from_a_digest_are_accepted(gateway, secret_scan, key):
    assert call(gateway, secret_scan, "echo/ok", key).status_code == 200


def test_an_upstream_that_echoes_the_provider_key(gateway, secret_scan):
    for model in ("echo/http_401", "echo/http_400"):
        response = call(gateway, secret_scan, model, CLIENT_SECRET)
        assert response.status_code in (400, 401)
        assert "***" in response.json()["error"]["message"]


def test_an_upstream_that_echoes_the_forwarded_client_key(gateway, secret_scan):
    # With forward_client_key the client's bearer token goes upstream, and comes back.
    response = call(gateway, secret_scan, "forward/http_401", CLIENT_SECRET)
    assert response.status_code == 401 and "***" in response.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_crash_with_secrets_in_the_exception(gateway, secret_scan, stream):
    model = "crash-stream" if stream else "crash"
    response = call(gateway, secret_scan, model, CLIENT_SECRET, stream=stream)
    if stream:
        assert response.status_code == 200 and b'"type":"server_error"' in response.content
    else:
        assert response.status_code == 500


@pytest.mark.parametrize(
    "key", [CLIENT_SECRET + "x", CLIENT_SECRET[:-1], PROVIDER_SECRET, f"{CLIENT_SECRET} extra"]
)
def test_wrong_keys_are_refused_without_an_echo(gateway, secret_scan, key):
    response = call(gateway, secret_scan, "echo/ok", key)
    assert response.status_code == 401


def test_metrics_and_pages_hold_no_secret(gateway, secret_scan):
    for path in ("/metrics", "/health", "/", "/v1/models"):
        response = requests.get(
            gateway.url + path, headers={"Authorization": f"Bearer {CLIENT_SECRET}"}, timeout=10
        )
        assert response.status_code == 200, path
        secret_scan.add(f"{path} page", response.content)
    assert b"gateway_requests_total" in requests.get(gateway.url + "/metrics", timeout=10).content


def test_nothing_the_gateway_wrote_holds_a_secret(gateway, secret_scan):
    output = gateway.output()
    # The crash paths were taken and logged with their traces...
    assert "Traceback" in output and "RuntimeError: upstream refused key '***'" in output
    # ...and neither the traces, the request logs nor the access log quote a key.
    assert PROVIDER_SECRET not in output and CLIENT_SECRET not in output
    assert HASHED_CLIENT_KEY not in output
    secret_scan.add("secrets gateway output so far", output)
    secret_scan.check()
