"""Run nginx with the deploy template in front of a test server, all files in a tmp folder."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import string
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.servers import ROOT, free_port

TEMPLATE = ROOT / "deploy" / "nginx" / "gateway.conf.template"
FULL_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
# Where Debian puts it; not on PATH for every user.
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()), None
)
requires_nginx = pytest.mark.skipif(NGINX is None, reason="the nginx binary is not installed")

_MAIN = """\
daemon off;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{extra}
    include {tmp}/gateway.conf;
}}
"""


def render_template(upstream: str, port: int | str, max_body: str, cors_origins: str = "*") -> str:
    """The template with its placeholders filled, as the nginx image's envsubst would."""
    values = {
        "GATEWAY_UPSTREAM": upstream,
        "NGINX_PORT": str(port),
        "NGINX_MAX_BODY": max_body,
        "NGINX_CORS_ORIGINS": cors_origins,
    }
    return string.Template(TEMPLATE.read_text()).safe_substitute(values)


class NginxProcess:
    """nginx in the foreground on a free loopback port, proxying to `upstream_port`."""

    def __init__(
        self,
        tmp: Path,
        upstream_port: int,
        *,
        max_body: str = "8m",
        cors_origins: str = "*",
        extra_http: str = "",
    ) -> None:
        assert NGINX is not None
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        listen = f"127.0.0.1:{self.port}"
        (tmp / "gateway.conf").write_text(
            render_template(f"127.0.0.1:{upstream_port}", listen, max_body, cors_origins)
        )
        main = tmp / "nginx.conf"
        # Started by root, nginx's workers would run as `nobody`, who cannot enter pytest's
        # private tmp folders; they run as the test's user instead.
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        main.write_text(_MAIN.format(tmp=tmp, extra=extra_http, user=user))
        argv = [NGINX, "-e", str(tmp / "error.log"), "-p", str(tmp), "-c", str(main)]
        self._log = open(tmp / "stdout.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_listening()

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited early:\n{self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nginx not listening after {timeout}s:\n{self.errors()}")

    def errors(self) -> str:
        """nginx's error log and output so far."""
        parts = [self.tmp / "error.log", self.tmp / "stdout.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def stop(self) -> None:
        """Stop nginx (SIGTERM, then SIGKILL if it lingers)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
