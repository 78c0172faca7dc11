"""Procfile, Dockerfile, docker-compose.yml and the nginx configs agree with each other and the app.

Docker cannot run here; these tests read the files. nginx, when installed, checks its configs.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest
import yaml

from config import load_settings
from tests.support.nginx import FULL_CONF, NGINX, TEMPLATE, render_template, requires_nginx
from tests.support.servers import ROOT, procfile_command

PLACEHOLDERS = {"GATEWAY_UPSTREAM", "NGINX_PORT", "NGINX_MAX_BODY", "NGINX_CORS_ORIGINS"}


def instructions(name: str) -> dict[str, list[str]]:
    """Dockerfile instructions by keyword, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def nginx_size(value: str) -> int:
    """An nginx size (`8m`, `512k`, `1024`) in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * 1024 ** " kmg".index(unit.lower() or " ")


def directives(text: str) -> list[str]:
    """nginx config text without comments and blank lines, whitespace collapsed."""
    lines = (re.sub(r"\s+", " ", line.split("#", 1)[0]).strip() for line in text.splitlines())
    return [line for line in lines if line]


@pytest.fixture
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture
def default_max_body(monkeypatch) -> int:
    monkeypatch.delenv("GATEWAY_MAX_BODY_BYTES", raising=False)
    return load_settings()["MAX_CONTENT_LENGTH"]


def test_procfile_is_one_web_process_without_release_phase():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert [line.split(":", 1)[0] for line in lines] == ["web"]
    assert procfile_command()[:3] == ["gunicorn", "-c", "config/gunicorn.conf.py"]


def test_docker_image_runs_the_procfile_command_as_pid_1():
    docker = instructions("Dockerfile")
    [cmd] = docker["CMD"]
    argv = json.loads(cmd)
    # exec form; the shell only expands the environment, then gunicorn replaces it (PID 1).
    assert argv[:2] == ["sh", "-c"]
    assert shlex.split(argv[2]) == ["exec", *procfile_command()]


def test_docker_image_is_slim_non_root_with_a_health_check():
    docker = instructions("Dockerfile")
    [base] = docker["FROM"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    [user] = docker["USER"]
    assert user not in ("root", "0") and not user.startswith("0:")
    [health] = docker["HEALTHCHECK"]
    assert "CMD" in health and "/health" in health
    assert any("PYTHONUNBUFFERED=1" in env for env in docker["ENV"])


def test_dockerignore_keeps_secrets_and_the_venv_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


def test_compose_has_gateway_behind_nginx_with_redis(compose):
    services = compose["services"]
    assert {"gateway", "nginx", "redis"} <= set(services)
    gateway, nginx = services["gateway"], services["nginx"]
    assert gateway["build"] == "."
    assert gateway["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert gateway["environment"]["TRUST_PROXY_HOPS"] == "1"
    assert "ports" not in gateway, "only nginx is published"
    mounts = [volume.split(":")[:2] for volume in nginx["volumes"]]
    assert [
        "./deploy/nginx/gateway.conf.template",
        "/etc/nginx/templates/gateway.conf.template",
    ] in (mounts)
    assert set(nginx["environment"]) >= PLACEHOLDERS
    port = gateway["environment"]["PORT"]
    assert nginx["environment"]["GATEWAY_UPSTREAM"] == f"gateway:{port}"


def test_compose_stop_grace_outlasts_the_streams_grace(compose, monkeypatch):
    monkeypatch.delenv("SHUTDOWN_GRACE_SECONDS", raising=False)
    grace = load_settings()["SHUTDOWN_GRACE_SECONDS"]
    stop = compose["services"]["gateway"]["stop_grace_period"]
    # gunicorn's graceful timeout is the grace plus 5 s; Docker must not SIGKILL before.
    assert int(stop.removesuffix("s")) > grace + 5


def test_nginx_body_limits_match_the_gateways_default(compose, default_max_body):
    assert nginx_size(compose["services"]["nginx"]["environment"]["NGINX_MAX_BODY"]) == (
        default_max_body
    )
    [limit] = [d for d in directives(FULL_CONF.read_text()) if d.startswith("client_max_body_size")]
    assert nginx_size(limit.split()[1].rstrip(";")) == default_max_body


def test_template_placeholders_and_streaming_directives():
    text = TEMPLATE.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == PLACEHOLDERS
    lines = directives(text)
    for expected in (
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $gateway_request_id;",
        "proxy_read_timeout 3600s;",
        "keepalive 64;",
        "error_page 400 404 405 408 411 413 414 501 502 504 505 /_nginx_error;",
        "error_page 494 =431 /_nginx_error;",
    ):
        assert expected in lines, expected
    rendered = render_template("127.0.0.1:8000", 80, "8m")
    assert not re.search(r"\$\{\w+\}", rendered)


def test_full_nginx_conf_is_the_template_filled_in():
    rendered = directives(render_template("127.0.0.1:8000", 80, "8m"))
    full = directives(FULL_CONF.read_text())
    start = full.index(rendered[0])
    assert full[start : start + len(rendered)] == rendered


@requires_nginx
def test_nginx_accepts_both_configs(tmp_path):
    full = FULL_CONF.read_text()
    # Paths of the machine it is meant for, moved into tmp for the check.
    full = re.sub(r"^pid .*;$", f"pid {tmp_path}/nginx.pid;", full, flags=re.M)
    full = re.sub(r"/var/log/nginx/", f"{tmp_path}/", full)
    full = full.replace("http {", f"http {{\n    client_body_temp_path {tmp_path}/body;", 1)
    (tmp_path / "full.conf").write_text(full)
    (tmp_path / "gateway.conf").write_text(render_template("127.0.0.1:8000", 8080, "8m"))
    (tmp_path / "main.conf").write_text(
        f"pid {tmp_path}/main.pid;\nevents {{}}\n"
        f"http {{ client_body_temp_path {tmp_path}/body; include {tmp_path}/gateway.conf; }}\n"
    )
    for name in ("full.conf", "main.conf"):
        check = subprocess.run(
            [NGINX, "-t", "-e", str(tmp_path / "error.log"), "-p", str(tmp_path), "-c", name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr


def test_compose_gives_nginx_the_gateways_cors_origins(compose, monkeypatch):
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    origins = compose["services"]["nginx"]["environment"]["NGINX_CORS_ORIGINS"]
    # Compose fills it from CORS_ORIGINS, the gateway's setting, with the gateway's default.
    assert origins == "${CORS_ORIGINS:-*}"
    assert load_settings()["CORS_ORIGINS"] == ["*"]


def test_readme_renders_every_placeholder():
    readme = (ROOT / "README.md").read_text()
    [listed] = re.findall(r"envsubst '([^']+)'", readme)
    assert set(re.findall(r"\$\{(\w+)\}", listed)) == PLACEHOLDERS
