"""Remote image URLs that reach this host or its network in disguise are refused before any
connection: numeric host spellings, `localhost`, IPv6 forms of IPv4 addresses."""

from __future__ import annotations

import socket

import pytest

from app.backends.images import ImagePolicy, load_image
from app.errors import InvalidRequestError


@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if anything tries to open a connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("a refused image URL was connected to")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/cat.png",  # 127.0.0.1 as one number
        "http://0x7f.0.0.1/cat.png",
        "http://017700000001/cat.png",  # octal
        "http://127.1/cat.png",
        "http://localhost/cat.png",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://0.0.0.0:8000/cat.png",
        "https://10.0.0.1/cat.png",
    ],
)
def test_disguised_local_addresses_are_refused(no_connections, url):
    with pytest.raises(InvalidRequestError) as info:
        load_image(url, ImagePolicy(enabled=True), "messages[0].content[0].image_url.url")
    assert info.value.code == "image_url_not_allowed"
    assert info.value.param == "messages[0].content[0].image_url.url"
