"""config/gunicorn.conf.py hooks: metrics folder, dead workers' gauges, SIGTERM, stdout logs."""

from __future__ import annotations

import gc
import os
import runpy
import signal
from types import SimpleNamespace

import pytest

from app import create_app, metrics
from tests.support.servers import ROOT

CONF = ROOT / "config" / "gunicorn.conf.py"
SERVER = SimpleNamespace(log=SimpleNamespace(info=lambda *args: None))


@pytest.fixture
def load_conf(monkeypatch):
    """Evaluate the config file with the given environment variables (others unset)."""

    # prometheus-client picks its mode once, at import: it was imported (by app.metrics)
    # before these tests set PROMETHEUS_MULTIPROC_DIR, and stays single-process.
    assert not metrics.multiprocess_mode()

    def load(**env: str) -> dict:
        for name in (
            "SHUTDOWN_GRACE_SECONDS",
            "GUNICORN_GRACEFUL_TIMEOUT",
            "GUNICORN_ACCESS_LOG",
            "LOG_LEVEL",
        ):
            monkeypatch.delenv(name, raising=False)
        # Set (to "" = not chosen) so that monkeypatch restores it after the hooks set it.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return load


def test_graceful_timeout_follows_the_shutdown_grace(load_conf):
    assert load_conf()["graceful_timeout"] == 30
    assert load_conf(SHUTDOWN_GRACE_SECONDS="1.5")["graceful_timeout"] == 7
    conf = load_conf(SHUTDOWN_GRACE_SECONDS="2", GUNICORN_GRACEFUL_TIMEOUT="4")
    assert conf["graceful_timeout"] == 4


def test_every_log_goes_to_stdout(load_conf):
    conf = load_conf(LOG_LEVEL="warning")
    logging_config = conf["logconfig_dict"]
    assert logging_config["handlers"]["stdout"]["stream"] == "ext://sys.stdout"
    assert logging_config["root"] == {"level": "WARNING", "handlers": ["stdout"]}
    assert logging_config["loggers"]["gunicorn.error"]["handlers"] == ["stdout"]
    # gunicorn's access log is off unless asked for; the gateway writes its own.
    assert logging_config["loggers"]["gunicorn.access"]["handlers"] == ["null"]
    access = load_conf(GUNICORN_ACCESS_LOG="-")["logconfig_dict"]["loggers"]["gunicorn.access"]
    assert access["handlers"] == ["stdout"]
    # A file target is left to gunicorn's own handler.
    file_conf = load_conf(GUNICORN_ACCESS_LOG="/tmp/access.log")["logconfig_dict"]
    assert "gunicorn.access" not in file_conf["loggers"]


class Formatted(Exception):
    """Raised where gunicorn would start formatting an access line."""


def _atoms(*args: object) -> None:
    raise Formatted


def test_access_lines_are_not_even_formatted_unless_asked_for(load_conf):
    # gunicorn counts any logging config as a wish for access lines: the logger class must
    # not build one per request only for a null handler.
    quiet = object.__new__(load_conf()["logger_class"])
    quiet.atoms = _atoms
    assert quiet.access(None, None, {}, 0.0) is None
    loud = object.__new__(load_conf(GUNICORN_ACCESS_LOG="-")["logger_class"])
    loud.cfg = SimpleNamespace(accesslog="-")
    loud._access_log_enabled = True
    loud.atoms = _atoms
    with pytest.raises(Formatted):
        loud.access(None, None, {}, 0.0)


def test_a_fresh_metrics_folder_per_start_removed_at_exit(load_conf):
    conf = load_conf()
    conf["on_starting"](SERVER)
    first = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert os.path.isdir(first) and os.listdir(first) == []
    conf["on_exit"](SERVER)
    assert not os.path.exists(first)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = ""
    conf["on_starting"](SERVER)
    second = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    assert second != first
    conf["on_exit"](SERVER)


def test_a_chosen_metrics_folder_is_emptied_and_kept(load_conf, tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "notes.txt").write_text("not ours")
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    conf["on_starting"](SERVER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    conf["on_exit"](SERVER)
    assert tmp_path.is_dir()


def test_child_exit_drops_the_dead_workers_live_gauges(load_conf, tmp_path):
    for name in ("gauge_livesum_123.db", "counter_123.db", "gauge_livesum_456.db"):
        (tmp_path / name).write_bytes(b"")
    conf = load_conf(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    conf["child_exit"](SERVER, SimpleNamespace(pid=123))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_123.db",
        "gauge_livesum_456.db",
    ]


def test_sigterm_stops_accepting_and_starts_the_grace_period(load_conf, config):
    app = create_app({**config, "SHUTDOWN_GRACE_SECONDS": 60})
    calls = []
    original = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda sig, frame: calls.append(sig))
    try:
        load_conf()["post_worker_init"](SimpleNamespace(wsgi=app))
        frozen = gc.get_freeze_count()
        handler = signal.getsignal(signal.SIGTERM)
        handler(signal.SIGTERM, None)
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, original)
    # The loaded app is kept out of the collector's full passes.
    assert frozen > 1000
    assert calls == [signal.SIGTERM]
    drain = app.extensions["gateway.drain"]
    assert drain.deadline is not None and not drain.expired


@pytest.mark.parametrize("chosen, installed", [("", 1), ("65536", 0)])
def test_workers_return_freed_large_buffers_unless_malloc_was_tuned(
    load_conf, config, monkeypatch, chosen, installed
):
    from app import malloc

    calls = []
    monkeypatch.setattr(malloc, "install", lambda: calls.append(1))
    conf = load_conf(MALLOC_MMAP_THRESHOLD_=chosen)
    original = signal.getsignal(signal.SIGTERM)
    try:
        conf["post_worker_init"](SimpleNamespace(wsgi=create_app(config)))
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, original)
    assert len(calls) == installed
