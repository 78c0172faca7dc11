"""Start real gunicorn processes (the gateway, fake providers) on free loopback ports."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command() -> list[str]:
    """The Procfile's `web:` command, split into argv."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:").strip())
    raise AssertionError("Procfile has no web: line")


class ServerProcess:
    """A server subprocess with its base URL and captured output."""

    def __init__(self, argv: list[str], port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        full_env = {**os.environ, **env}
        full_env["PATH"] = f"{BIN}{os.pathsep}{full_env.get('PATH', '')}"
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, path: str = "/health", timeout: float = 30.0) -> ServerProcess:
        """Block until `path` answers (any status), or fail with the server's output."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                requests.get(self.url + path, timeout=1)
                return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        """Everything the process wrote so far (also after `stop`)."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def gunicorn_app(
    target: str, tmp_path: Path, *, env: dict[str, str] | None = None, workers: int = 1
) -> ServerProcess:
    """Serve a WSGI app (`module:attr`) with gunicorn's gevent worker on a free port."""
    port = free_port()
    argv = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gevent",
        "--workers",
        str(workers),
        "--graceful-timeout",
        "2",
        target,
    ]
    log_path = tmp_path / f"{target.replace(':', '_').replace('.', '_')}-{port}.log"
    return ServerProcess(argv, port, env or {}, log_path)


def start_gateway(
    tmp_path: Path,
    models: dict[str, Any] | None = None,
    *,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> ServerProcess:
    """Run the Procfile's command with PORT set, optionally with a models file of our own."""
    port = free_port()
    full_env = {"PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers)}
    if models is not None:
        models_file = tmp_path / f"models-{port}.yaml"
        models_file.write_text(yaml.safe_dump(models))
        full_env["MODELS_FILE"] = str(models_file)
    full_env.update(env or {})
    server = ServerProcess(procfile_command(), port, full_env, tmp_path / f"gateway-{port}.log")
    return server.wait_ready()


@contextmanager
def gateway_in_front(
    target: str, tmp_path: Path, models: Callable[[str], dict[str, Any]], key: str
) -> Iterator[ServerProcess]:
    """A fake upstream app (`module:attr`, answering `/v1/models`) under gunicorn, and the
    gateway with client key `key` and the models file `models(upstream base URL)` in front."""
    upstream = gunicorn_app(target, tmp_path).wait_ready("/v1/models")
    try:
        env = {"GATEWAY_API_KEYS": key}
        server = start_gateway(tmp_path, models(f"{upstream.url}/v1"), env=env)
        try:
            yield server
        finally:
            server.stop()
    finally:
        upstream.stop()
