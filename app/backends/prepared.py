"""Sending through a requests Session without redoing per-request work (the hot path).

`Session.request` merges the session's headers, cookies and auth into a fresh
`PreparedRequest` on every call, which costs more CPU than the HTTP exchange itself. For
the common call (a bytes body, no params, no session auth, hooks or proxies) the merged
request without its body is prepared once by the session itself and kept as a template;
each call copies it, adds the body and goes straight to the session's adapter, as
`Session.send` would. Upstream sessions keep no cookies (`NoCookies`), so templates carry
none and nothing is stored from a response. `LeanAdapter` likewise keeps the connection pool
of each upstream instead of looking it up again, parses cookies only when there are some, and
uses the leaner connections of `app.backends.connections`, retired after `keepalive_expiry` idle
seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from http.cookiejar import Cookie, DefaultCookiePolicy
from time import perf_counter
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from app.backends.connections import DEFAULT_KEEPALIVE_EXPIRY, POOL_CLASSES

# Templates kept per session; past this many (e.g. one per forwarded client key) start over.
_MAX_TEMPLATES = 64


class NoCookies(DefaultCookiePolicy):
    """A cookie policy that stores no cookie at all.

    Requests of every client share an upstream's session: a cookie the upstream sets for one
    client (a session id, a load-balancer pin) must not go out with another client's requests.
    """

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        """Never: the session's jar stays empty."""
        return False


class PreparedSender:
    """Sends bytes bodies through `session` from cached request templates.

    The session must keep no cookies (see `NoCookies`): templates are cached without any.
    """

    def __init__(self, session: requests.Session) -> None:
        self.session = session
        self._templates: dict[tuple[Any, ...], requests.PreparedRequest] = {}

    def can_send(self, data: Any, json_body: Any, params: Any) -> bool:
        """True when `send` gives the same request as `Session.request` would."""
        session = self.session
        return (
            json_body is None
            and not params
            and (data is None or type(data) is bytes)
            and not session.trust_env
            and session.auth is None
            and not session.params
            and not session.proxies
            and not any(session.hooks.values())
        )

    def send(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        """Send like `session.request(..., stream=True, allow_redirects=False)`."""
        session = self.session
        template = self._template(method, url, headers)
        prepared = requests.PreparedRequest()
        prepared.method = template.method
        prepared.url = template.url
        prepared.headers = template.headers.copy()
        prepared.hooks = template.hooks
        if data:
            prepared.body = data
            prepared.headers["Content-Length"] = str(len(data))
        adapter = session.get_adapter(prepared.url)
        start = perf_counter()
        response = adapter.send(
            prepared,
            stream=True,
            timeout=timeout,
            verify=session.verify,
            cert=session.cert,
            proxies={},
        )
        response.elapsed = timedelta(seconds=perf_counter() - start)
        return response

    def _template(
        self, method: str, url: str, headers: Mapping[str, str] | None
    ) -> requests.PreparedRequest:
        """The prepared request without a body, as the session prepares it now."""
        key = (
            method,
            url,
            tuple(headers.items()) if headers else (),
            tuple(self.session.headers.items()),
        )
        template = self._templates.get(key)
        if template is None:
            template = self._prepare(method, url, headers)
            if len(self._templates) >= _MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = template
        return template

    def _prepare(
        self, method: str, url: str, headers: Mapping[str, str] | None
    ) -> requests.PreparedRequest:
        return self.session.prepare_request(
            requests.Request(method, url, headers=dict(headers or {}))
        )


def without_body(sent: requests.PreparedRequest) -> requests.PreparedRequest:
    """`sent` without its body. A stream lives as long as its answer, and its response would
    keep the whole prompt in memory all that time (1,000 streams of 200 KB prompts: 200 MB).

    The rest is shared, not copied as `PreparedRequest.copy` does (the headers): nothing
    changes a request once it is sent.
    """
    kept = requests.PreparedRequest()
    kept.method, kept.url, kept.headers = sent.method, sent.url, sent.headers
    kept.hooks = sent.hooks
    return kept


class LeanAdapter(HTTPAdapter):
    """An HTTPAdapter that skips per-request work whose outcome cannot change.

    `send` is HTTPAdapter's own (so test doubles that patch it still apply); only the helpers
    it calls are lighter: the pool of an origin is kept while it is open, the URL of a direct
    request is its path, and a response is only searched for cookies when it sets some.
    """

    def __init__(
        self, *args: Any, keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY, **kwargs: Any
    ) -> None:
        self._pools: dict[tuple[Any, ...], Any] = {}
        # Seconds an idle pooled connection may still be reused (connections.py).
        self.keepalive_expiry = keepalive_expiry
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """HTTPAdapter's pool manager, whose pools check pooled connections cheaply."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(POOL_CLASSES)
        self._pools.clear()

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: Any,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> Any:
        """The urllib3 pool for the request's origin (kept until the manager closes it)."""
        if proxies:
            # urllib3's own proxy pools: neither the lean connections nor keepalive_expiry.
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        url = str(request.url)
        end = url.find("/", url.find("//") + 2)
        key = (url if end < 0 else url[:end], verify, cert)
        pool = self._pools.get(key)
        # A pool the manager evicted or closed has no connection queue left.
        if pool is None or pool.pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            pool.keepalive_expiry = self.keepalive_expiry
            if len(self._pools) >= _MAX_TEMPLATES:
                self._pools.clear()
            self._pools[key] = pool
        return pool

    def request_url(
        self, request: requests.PreparedRequest, proxies: Mapping[str, str] | None
    ) -> str:
        """The path of a direct request; see HTTPAdapter.request_url for proxied ones."""
        if proxies:
            return super().request_url(request, proxies)
        return request.path_url

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        """HTTPAdapter.build_response, parsing cookies only when the response sets some.

        The headers are urllib3's own, already case-insensitive (requests copies them into a
        CaseInsensitiveDict; `headers[name]` joins repeated headers the same way).
        """
        response = requests.Response()
        response.status_code = getattr(resp, "status", None)
        headers = getattr(resp, "headers", None)
        response.headers = CaseInsensitiveDict() if headers is None else headers
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies_to_jar(response.cookies, req, resp)
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        """Close every pool (see HTTPAdapter.close) and forget them."""
        self._pools.clear()
        super().close()
