"""Images in chat messages: data URLs, and remote URLs fetched only under a strict policy."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

from app.backends.translate import parse_data_url
from app.errors import InvalidRequestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints; most are already link-local or private, listed to be explicit.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_REDIRECTS = (301, 302, 303, 307, 308)
# File signatures of the image formats the providers take. OpenAI reads an image's bytes,
# whatever its data URL or server declares; other providers trust the declared type and refuse
# one that does not match the bytes, so the bytes decide it here too.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class ImagePolicy:
    """Whether and how remote image URLs may be fetched (backend options `fetch_remote_images`,
    `image_max_bytes`, `image_timeout`, `image_max_redirects`, `image_allowed_networks`)."""

    enabled: bool = False
    max_bytes: int = 10 * 1024 * 1024
    timeout: float = 10.0
    max_redirects: int = 3
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ImagePolicy:
        """The policy configured in a backend's entry of the models file."""
        return cls(
            enabled=bool(options.get("fetch_remote_images", False)),
            max_bytes=int(options.get("image_max_bytes", cls.max_bytes)),
            timeout=float(options.get("image_timeout", cls.timeout)),
            max_redirects=int(options.get("image_max_redirects", cls.max_redirects)),
            allowed_networks=tuple(
                ipaddress.ip_network(str(n), strict=False)
                for n in options.get("image_allowed_networks") or ()
            ),
        )


def is_blocked(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> bool:
    """True for loopback, private, link-local, multicast, reserved and metadata addresses."""
    if any(address.version == net.version and address in net for net in allowed):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 addresses embedded in IPv6 forms are judged as the IPv4 address they reach.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.teredo:
            embedded = address.teredo[1]
        if embedded is not None and is_blocked(embedded, allowed):
            return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
        or address in METADATA_ADDRESSES
    )


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def load_image(url: str, policy: ImagePolicy, param: str) -> tuple[str, str]:
    """An image URL as (mime type, base64 data): data URLs decoded, remote ones fetched."""
    if url.startswith("data:"):
        declared, data = parse_data_url(url, param)
        return data_url_type(declared, data), data
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise InvalidRequestError(
            "Invalid image URL: expected an http(s) URL or a base64 data URL.",
            param=param,
            code="invalid_image_url",
        )
    if not policy.enabled:
        raise InvalidRequestError(
            "Remote image URLs are not enabled for this model; send the image inline as a "
            "base64 data URL (data:image/png;base64,...).",
            param=param,
            code="image_url_not_allowed",
        )
    mime, data = fetch_image(url, policy, param)
    return mime, base64.b64encode(data).decode("ascii")


def fetch_image(url: str, policy: ImagePolicy, param: str) -> tuple[str, bytes]:
    """Download an image, re-checking the address of every redirect hop; (mime type, bytes)."""
    deadline = time.monotonic() + policy.timeout
    for _ in range(policy.max_redirects + 1):
        pool, response = _open(url, policy, param, deadline)
        try:
            location = response.headers.get("Location")
            if response.status in _REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise _fetch_error(f"the server answered HTTP {response.status}.", param)
            data = _read_limited(response, policy, param, deadline)
            return _image_type(response.headers.get("Content-Type", ""), data, param), data
        finally:
            response.close()
            pool.close()
    raise _fetch_error("too many redirects.", param)


def _open(url: str, policy: ImagePolicy, param: str, deadline: float) -> tuple[Any, Any]:
    """Resolve, vet every address, then connect to the vetted address itself."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise _fetch_error("it is not an http(s) URL with a host name.", param)
    if parts.username or parts.password:
        raise _fetch_error("URLs with credentials are not fetched.", param)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
        addresses = [
            ipaddress.ip_address(a.split("%")[0]) for a in resolve_host(parts.hostname, port)
        ]
    except (OSError, ValueError, UnicodeError) as exc:
        raise _fetch_error("the host name could not be resolved.", param) from exc
    if not addresses or any(is_blocked(a, policy.allowed_networks) for a in addresses):
        raise InvalidRequestError(
            "Image URL refused: its host is a loopback, private, link-local or otherwise "
            "non-public address.",
            param=param,
            code="image_url_not_allowed",
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    remaining = max(deadline - time.monotonic(), 0.001)
    timeout = urllib3.Timeout(connect=remaining, read=remaining)
    options: dict[str, Any] = {"timeout": timeout, "retries": False, "maxsize": 1}
    if scheme == "https":
        # TLS is verified against the host name while the socket goes to the vetted address.
        options.update(
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
        pool: Any = urllib3.HTTPSConnectionPool(str(addresses[0]), port, **options)
    else:
        pool = urllib3.HTTPConnectionPool(str(addresses[0]), port, **options)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Host": host_header,
        "Accept": "image/*",
        # Compressed bodies would let a small download expand past the size limit.
        "Accept-Encoding": "identity",
        "User-Agent": "openai-gateway",
    }
    try:
        response = pool.urlopen(
            "GET",
            target,
            headers=headers,
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.TimeoutError as exc:
        pool.close()
        raise _fetch_error("the server did not answer in time.", param) from exc
    except urllib3.exceptions.HTTPError as exc:
        pool.close()
        raise _fetch_error("the server could not be reached.", param) from exc
    return pool, response


def _read_limited(response: Any, policy: ImagePolicy, param: str, deadline: float) -> bytes:
    too_big = f"the image is larger than {policy.max_bytes} bytes."
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise _fetch_error(too_big, param)
    data = bytearray()
    try:
        # read1 returns after one socket read, so the deadline is checked between reads.
        while chunk := response.read1(64 * 1024):
            data += chunk
            if len(data) > policy.max_bytes:
                raise _fetch_error(too_big, param)
            if time.monotonic() > deadline:
                raise _fetch_error("the download took too long.", param)
    except urllib3.exceptions.HTTPError as exc:
        raise _fetch_error("the download failed.", param) from exc
    return bytes(data)


def sniffed_type(data: bytes) -> str | None:
    """The image type the first bytes of `data` show (PNG, JPEG, GIF, WebP), or None."""
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url_type(declared: str, data: str) -> str:
    """The media type to send for base64 image `data` declared as `declared`: the one its
    bytes show, else the declared one, lower-cased, with `image/jpg` (refused by Gemini and
    Anthropic) spelled `image/jpeg`."""
    try:
        head = base64.b64decode(data[:24] + "=" * (-len(data[:24]) % 4))
    except (binascii.Error, ValueError):
        head = b""
    return sniffed_type(head) or _spelled(declared.lower())


def _spelled(mime: str) -> str:
    return "image/jpeg" if mime == "image/jpg" else mime


def _image_type(content_type: str, data: bytes, param: str) -> str:
    mime = content_type.split(";")[0].strip().lower()
    sniffed = sniffed_type(data)
    if sniffed is not None:
        return sniffed
    if mime.startswith("image/"):
        return _spelled(mime)
    raise _fetch_error("the URL does not point to an image.", param)


def _fetch_error(reason: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Could not fetch the image URL: {reason}", param=param, code="invalid_image_url"
    )
