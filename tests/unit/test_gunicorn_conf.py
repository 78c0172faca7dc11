"""config/gunicorn.conf.py: bind, workers and timeouts from the environment; the exit hook."""

from __future__ import annotations

import os
import runpy
from types import SimpleNamespace

import pytest

from tests.support.servers import ROOT

CONF = ROOT / "config" / "gunicorn.conf.py"
ENV_NAMES = (
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_TIMEOUT",
    "GUNICORN_WORKER_CLASS",
    "GUNICORN_CONTROL_SOCKET",
)


@pytest.fixture
def load_conf(monkeypatch):
    """Evaluate the config file with exactly the given environment variables set."""

    def load(**env: str) -> dict:
        for name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return load


def test_defaults(load_conf):
    conf = load_conf()
    assert conf["bind"] == "0.0.0.0:8000"
    # gunicorn's gevent worker, imported by the workers only (see the class).
    assert conf["worker_class"].__name__ == "GeventWorker"
    assert conf["worker_class"].init_process.__module__ == conf["__name__"]
    assert 1 <= conf["workers"] <= 8
    assert conf["timeout"] == 120 and conf["graceful_timeout"] == 30
    assert conf["control_socket_disable"] is True


def test_environment_overrides(load_conf):
    conf = load_conf(
        HOST="127.0.0.1",
        PORT="9123",
        WEB_CONCURRENCY="3",
        GUNICORN_TIMEOUT="5",
        GUNICORN_CONTROL_SOCKET="/tmp/gw.ctl",
    )
    assert conf["bind"] == "127.0.0.1:9123"
    assert conf["workers"] == 3 and conf["timeout"] == 5
    assert conf["control_socket"] == "/tmp/gw.ctl" and conf["control_socket_disable"] is False


def test_a_worker_class_from_the_environment_is_used_as_given(load_conf):
    assert load_conf(GUNICORN_WORKER_CLASS="gthread")["worker_class"] == "gthread"


def test_port_alone_binds_every_interface(load_conf):
    assert load_conf(PORT="5000")["bind"] == "0.0.0.0:5000"


def test_the_projects_env_file_sets_gunicorns_settings(tmp_path, monkeypatch):
    """The .env next to wsgi.py, which the app reads, sets gunicorn's settings too (a shutdown
    grace set there must not outlast gunicorn's graceful timeout); real variables win."""
    conf = tmp_path / "config" / "gunicorn.conf.py"
    conf.parent.mkdir()
    conf.write_text(CONF.read_text())
    lines = ["PORT=8123", "HOST=10.0.0.1", "WEB_CONCURRENCY=3", "SHUTDOWN_GRACE_SECONDS=60"]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    unset = (*ENV_NAMES, "SHUTDOWN_GRACE_SECONDS", "GUNICORN_GRACEFUL_TIMEOUT")
    environ = {name: value for name, value in os.environ.items() if name not in unset}
    monkeypatch.setattr(os, "environ", {**environ, "HOST": "127.0.0.1"})
    loaded = runpy.run_path(str(conf))
    assert loaded["bind"] == "127.0.0.1:8123"
    assert loaded["workers"] == 3
    assert loaded["shutdown_grace"] == 60 and loaded["graceful_timeout"] == 65


def test_worker_exit_closes_the_workers_backends(load_conf):
    closed = []
    backends = SimpleNamespace(close=lambda: closed.append(True))
    app = SimpleNamespace(extensions={"gateway.backends": backends})
    hook = load_conf()["worker_exit"]
    hook(None, SimpleNamespace(wsgi=app, pid=1))
    assert closed == [True]
    # The arbiter calls the hook for dead workers too; they hold no app.
    hook(None, SimpleNamespace(pid=2))
    assert closed == [True]
