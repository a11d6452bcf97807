"""The one HTTP layer for all Ring traffic.

``RingHttp`` owns the single ``httpx.AsyncClient`` and does everything every Ring call needs: the endpoint rule
(``endpoints.resolve``), Ring's headers, timeouts, retries with backoff and ``Retry-After`` (tenacity), 401 → refresh
→ retry, lazy session creation and re-creation, an optional client-side rate limit (aiolimiter), streaming media
downloads that resume after a dropped connection, and logging with every secret redacted.

No other ringvault module talks to httpx directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import inspect
import json as jsonlib
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    retry_if_result,
    wait_exponential_jitter,
)

from ringvault.cloud import endpoints
from ringvault.cloud.errors import (
    AuthenticationError,
    CloudUnreachableError,
    DeviceOfflineError,
    NotFoundError,
    RateLimitedError,
    RecordingNotReadyError,
    ResponseFormatError,
    RingError,
    RingHttpError,
)
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenFileError

if TYPE_CHECKING:
    from ringvault.cloud.auth import RingAuth

logger = logging.getLogger("ringvault.cloud")

T = TypeVar("T")

#: Hosts that get ``Authorization: Bearer`` and ``hardware_id`` (Ring's API hosts).
RING_API_HOSTS = frozenset(
    {endpoints.API_HOST, endpoints.APP_API_HOST, endpoints.LEGACY_APP_HOST, endpoints.SNAPS_HOST}
)
#: Hosts that are Ring's own (API + OAuth): they get ``hardware_id`` and count against the request budget.
RING_HOSTS = RING_API_HOSTS | {endpoints.OAUTH_HOST}
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
DEVICE_OFFLINE_CODES = frozenset({7019, 7050, 7061, 7062, 7063})
SESSION_MAX_AGE_S = 12 * 3600.0
SESSION_API_VERSION = 11
MAX_REDIRECTS = 5
#: Refreshes one request may do after 401s before the 401 is reported (several processes sharing one token file, or
#: many parallel requests, can use up or supersede a freshly refreshed token before this request sends it).
MAX_AUTH_REFRESHES = 4
LONG_WAIT_HINT = (
    "Ring's edge is blocking this IP (HTTP 406); wait several hours (up to a day) before trying again, "
    "and avoid repeated logins."
)


# ---------------------------------------------------------------------------------------------------------------
# Redaction


_KNOWN_SECRETS: dict[str, None] = {}
_MAX_KNOWN_SECRETS = 256
_MASK = "***"
_SECRET_KEYS = r"[\w-]*token|[\w-]*secret|password|passwd|2fa-code|code|rt|authcode|ticket"
_SIGNED_URL_PARAMS = (
    r"x-amz-signature|x-amz-credential|x-amz-security-token|signature|x-goog-signature|x-goog-credential"
    r"|key-pair-id|policy|sig"
)
_JSON_SECRET_RE = re.compile(rf"""(["'](?:{_SECRET_KEYS})["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2""", re.IGNORECASE)
_QUERY_SECRET_RE = re.compile(
    rf"""((?:^|(?<=[?&\s,;{{(\[]))(?:{_SECRET_KEYS}|{_SIGNED_URL_PARAMS})=)[^&\s"'<>]+""", re.IGNORECASE
)
_AUTH_SCHEME_RE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/=]+", re.IGNORECASE)
_HEADER_SECRET_RE = re.compile(
    r"""((?:authorization|2fa-code)["']?\s*[:=]\s*["']?)(?!(?:Bearer|Basic)\b)[^\s"',}]+""", re.IGNORECASE
)


_known_re: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember a secret (token, password, 2FA code) so ``redact`` masks it wherever it appears."""
    global _known_re
    if not value or len(value) < 4 or value in _KNOWN_SECRETS:
        return
    _KNOWN_SECRETS[value] = None
    while len(_KNOWN_SECRETS) > _MAX_KNOWN_SECRETS:
        del _KNOWN_SECRETS[next(iter(_KNOWN_SECRETS))]
    _known_re = None


def _known_secrets_re() -> re.Pattern[str] | None:
    global _known_re
    if _known_re is None and _KNOWN_SECRETS:
        alternatives = sorted(_KNOWN_SECRETS, key=len, reverse=True)
        _known_re = re.compile("|".join(re.escape(secret) for secret in alternatives))
    return _known_re


def redact(text: str) -> str:
    """Mask tokens, passwords, 2FA codes, ``Authorization`` values and signed-URL credentials in ``text``."""
    if not text:
        return text
    # The patterns first, the known values last: a known secret that happens to spell a key name ("code") must not
    # hide the key from the patterns and so leave its value readable.
    text = _JSON_SECRET_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}{m.group(2)}", text)
    text = _AUTH_SCHEME_RE.sub(lambda m: f"{m.group(1)} {_MASK}", text)
    text = _HEADER_SECRET_RE.sub(lambda m: f"{m.group(1)}{_MASK}", text)
    text = _QUERY_SECRET_RE.sub(lambda m: f"{m.group(1)}{_MASK}", text)
    known = _known_secrets_re()
    return known.sub(_MASK, text) if known is not None else text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message (and traceback) through ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak its arguments either
            message = f"{record.msg!s} (unformattable arguments)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_REDACTING_FILTER = RedactingFilter()
_REDACTED_LOGGERS = (
    "ringvault.cloud",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "hpack",
)


def install_log_redaction(*names: str) -> None:
    """Attach the redaction filter to ringvault's cloud loggers (``ringvault.cloud`` and every existing
    ``ringvault.cloud.*`` child; filters are not inherited), httpx's loggers and any ``names`` given."""
    children = [n for n in list(logging.root.manager.loggerDict) if n.startswith("ringvault.cloud.")]
    for name in (*_REDACTED_LOGGERS, *children, *names):
        target = logging.getLogger(name)
        if _REDACTING_FILTER not in target.filters:
            target.addFilter(_REDACTING_FILTER)


install_log_redaction()


# ---------------------------------------------------------------------------------------------------------------
# Small public types


class Event(Generic[T]):
    """A small subscribable event: ``unsubscribe = event.subscribe(callback)``.

    Callbacks may be plain functions or coroutine functions; an exception in one is logged, never propagated.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], object]] = []

    def subscribe(self, callback: Callable[[T], object]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def emit(self, value: T) -> None:
        for callback in list(self._callbacks):
            try:
                result = callback(value)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("event callback %r failed", callback)


@dataclass
class HttpStats:
    """Counters of one ``RingHttp`` (for tests and benchmarks)."""

    requests: int = 0
    retries: int = 0
    refreshes: int = 0
    sessions_created: int = 0
    download_resumes: int = 0
    download_restarts: int = 0
    bytes_downloaded: int = 0
    rate_limited: int = 0
    """Answers 429 received (each one retried after ``Retry-After``); callers watch it to slow down."""


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it went, how many bytes, their SHA-256, and the served content type."""

    path: Path
    bytes: int
    sha256: str
    content_type: str | None


# ---------------------------------------------------------------------------------------------------------------
# Helpers


class _RetryableStatus(Exception):
    """A media response that is worth another attempt (429, 5xx)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class _IncompleteBody(Exception):
    """The media body ended before Content-Length bytes arrived."""


#: ``progress(bytes_written, total_or_None)`` after every chunk of a download (and with 0 when it starts over).
DownloadProgress = Callable[[int, int | None], None]


@dataclass
class _DownloadState:
    handle: IO[bytes]
    sha: Any = field(default_factory=hashlib.sha256)
    written: int = 0
    total: int | None = None
    content_type: str | None = None
    failures_without_progress: int = 0
    last_failure_made_progress: bool = False
    progress: DownloadProgress | None = None

    def restart(self) -> None:
        self.handle.seek(0)
        self.handle.truncate()
        self.sha = hashlib.sha256()
        self.written = 0
        self.total = None
        self.report()

    def report(self) -> None:
        """Tell the progress callback; a failing display is logged and never breaks the download."""
        if self.progress is None:
            return
        try:
            self.progress(self.written, self.total)
        except Exception:
            logger.exception("download progress callback %r failed", self.progress)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or invalid."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return jsonlib.loads(response.content)
    except ValueError:
        return None


def _offline_codes(response: httpx.Response) -> bool:
    if response.status_code != 404:
        return False
    data = _json_body(response)
    if not isinstance(data, dict):
        return False
    codes = data.get("errors")
    if not isinstance(codes, list):
        return False
    for code in codes:
        with contextlib.suppress(TypeError, ValueError):
            if int(code) in DEVICE_OFFLINE_CODES:
                return True
    return False


def _error_detail(response: httpx.Response) -> str:
    """A short, redacted description of an error body."""
    data = _json_body(response)
    if isinstance(data, dict):
        parts = [str(data[key]) for key in ("error", "error_description", "errors", "message") if data.get(key)]
        text = "; ".join(parts)
    else:
        ctype = response.headers.get("content-type", "")
        text = "HTML page" if "html" in ctype.lower() or response.content.lstrip()[:1] == b"<" else ""
        if not text:
            text = response.content[:120].decode("utf-8", "replace").strip()
    return redact(text[:200])


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _type_matches(content_type: str | None, expected: str) -> bool:
    actual = _media_type(content_type)
    wanted = expected.strip().lower()
    if wanted.endswith("/*"):
        wanted = wanted[:-1]
    if wanted.endswith("/"):
        return actual.startswith(wanted)
    return actual == wanted


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes START-END/TOTAL`` → ``(START, TOTAL | None)``."""
    if not value:
        return None
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


# ---------------------------------------------------------------------------------------------------------------
# The HTTP layer


class RingHttp:
    """The one HTTP layer for all Ring traffic (API, OAuth and media hosts).

    Use it as an async context manager or call ``aclose()``. ``transport`` is for tests only.
    """

    def __init__(
        self,
        auth: RingAuth,
        options: RingApiOptions,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.auth = auth
        self.options = options
        self.stats = HttpStats()
        #: fired after every new session (re-subscribe cameras, re-register push there)
        self.on_session_created: Event[None] = Event()
        install_log_redaction()  # also covers ringvault.cloud.* loggers created since import
        self._client = httpx.AsyncClient(
            http2=True,
            timeout=httpx.Timeout(options.timeout_s),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": options.user_agent},
        )
        rps = options.requests_per_second
        self._limiter: AsyncLimiter | None = None
        if rps is not None and rps > 0:
            burst = max(1.0, rps)
            self._limiter = AsyncLimiter(burst, burst / rps)
        self._session_lock = asyncio.Lock()
        # A request recovering from a second 401 holds _auth_recovery and clears _auth_open until it has sent its
        # request; every other authorized request waits for _auth_open (see _bearer_for_attempt).
        self._auth_recovery = asyncio.Lock()
        self._auth_open = asyncio.Event()
        self._auth_open.set()
        self._session_created_at: float | None = self._stored_session()
        self._session_generation = 0
        self._backoff = wait_exponential_jitter(
            multiplier=options.backoff_initial_s, max=options.backoff_max_s, jitter=options.backoff_initial_s
        )

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RingHttp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- URL helpers ---------------------------------------------------------------------------------------------
    def resolve(self, url: str) -> str:
        """The URL actually requested (the endpoint rule applied)."""
        return endpoints.resolve(url, self.options.cloud_url)

    def ring_host(self, url: str) -> str:
        """The real host a URL is meant for, also for URLs already rewritten to ``{cloud_url}/HOST/PATH``."""
        cloud = self.options.cloud_url
        if cloud and (url.startswith(cloud + "/") or url == cloud):
            rest = url[len(cloud) :].lstrip("/")
            return rest.split("/", 1)[0].split("?", 1)[0].lower()
        return (urlsplit(url).hostname or "").lower()

    def _ring_path(self, url: str) -> str:
        """``host/path`` of a URL for messages (no query string: signed URLs carry credentials there)."""
        cloud = self.options.cloud_url
        if cloud and url.startswith(cloud + "/"):
            return url[len(cloud) + 1 :].split("?", 1)[0]
        parts = urlsplit(url)
        return f"{parts.netloc}{parts.path}"

    def _is_clients_api(self, url: str) -> bool:
        path = self._ring_path(url)
        prefix = f"{endpoints.API_HOST}/clients_api/"
        return path.startswith(prefix) and path[len(prefix) :].strip("/") != "session"

    def _headers(self, host: str, bearer: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if host in RING_HOSTS:
            headers["hardware_id"] = self.auth.hardware_id
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if extra:
            headers.update(extra)
        return headers

    # -- public API ----------------------------------------------------------------------------------------------
    async def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        session: bool = True,
    ) -> Any:
        """Send a request and return its parsed JSON body (None for 204 or an empty body).

        Raises ``ResponseFormatError`` for bodies that are not JSON (HTML pages, truncated bodies) and for redirects.
        """
        all_headers = {"Accept": "application/json", **(headers or {})}
        response = await self.request(method, url, params=params, json=json, headers=all_headers, session=session)
        if response.is_redirect:
            raise ResponseFormatError(
                f"{method.upper()} {self._ring_path(url)} answered a redirect (HTTP {response.status_code}) "
                "where JSON was expected"
            )
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return jsonlib.loads(response.content)
        except ValueError as err:
            ctype = _media_type(response.headers.get("content-type")) or "no content type"
            raise ResponseFormatError(
                f"{method.upper()} {self._ring_path(url)} answered {ctype} that is not JSON: "
                f"{_error_detail(response)!r}"
            ) from err

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        session: bool = True,
        auth: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request httpx timeout, not a cancel scope
        raise_for_status: bool = True,
        retry_safe: bool = False,
    ) -> httpx.Response:
        """The status-checked low-level call. Returns 2xx and 3xx responses (redirects are not followed).

        ``session``: make sure a ``clients_api`` session exists first (and re-create it on "Session not found").
        ``auth``: send the bearer token (only ever to Ring's API hosts) and refresh once on 401.
        ``raise_for_status=False`` returns error responses too (after retries) instead of raising.
        ``retry_safe``: retry this call like a GET (500/502 and broken connections too) although its method is not
        idempotent, for calls where a second attempt can never do harm that the failed one had not done already.
        """
        method = method.upper()
        host = self.ring_host(url)
        resolved = self.resolve(url)
        use_bearer = auth and host in RING_API_HOSTS
        needs_session = session and use_bearer and self._is_clients_api(url)
        extra = dict(headers or {})
        if method == "PUT":
            # Ring answers 422 to a PUT without a JSON content type, even with an empty body.
            extra.setdefault("Content-Type", "application/json")
            if json is None and content is None:
                content = b""
        if needs_session:
            await self._ensure_session()

        what = f"{method} {self._ring_path(url)}"
        refreshes = 0
        rejected: str | None = None
        session_retried = False
        while True:
            generation = self._session_generation
            async with self._bearer_for_attempt(use_bearer, what, refreshes, rejected) as bearer:
                response = await self._send(
                    method,
                    resolved,
                    host=host,
                    params=params,
                    json=json,
                    content=content,
                    headers=self._headers(host, bearer, extra),
                    timeout=timeout,
                    retry_safe=retry_safe,
                )
            rejected = None
            if response.status_code == 401 and use_bearer and refreshes < MAX_AUTH_REFRESHES:
                refreshes += 1
                rejected = bearer
                continue
            if needs_session and not session_retried and self._is_session_not_found(response):
                session_retried = True
                logger.info("%s %s: Ring lost our session; creating a new one", method, self._ring_path(url))
                await self._ensure_session(force_after_generation=generation)
                continue
            break
        if raise_for_status:
            self.raise_for_status(response, method=method, url=url)
        return response

    @contextlib.asynccontextmanager
    async def _bearer_for_attempt(
        self, use_bearer: bool, what: str, refreshes: int, rejected: str | None
    ) -> AsyncIterator[str | None]:
        """The access token for one attempt of a request (None when it sends none); keep the block to the send.

        - Normally the shared token (refreshed shortly before it expires).
        - After a 401 (``rejected``, the ``refreshes``-th of this request): the first time a shared refresh, which
          adopts a newer login another process stored in the token file, or asks Ring once for all callers.
        - After a 401 right after such a refresh, the adopted or shared token was used up or superseded elsewhere
          (several processes or many parallel requests on one token file): that is not a lost login, so the request
          gets a token of its own (``RingAuth.refresh(private=True)``: not offered to other processes through the
          file) and the first use of it: the block holds this process's other authorized requests back until the
          request is sent. A 401 to such a token is Ring's own answer; ``MAX_AUTH_REFRESHES`` bounds the tries.
          Only Ring refusing the freshest stored refresh token raises ``TokenRevokedError`` ("log in again").
        """
        if not use_bearer:
            yield None
            return
        if rejected is not None and refreshes >= 2:
            async with self._auth_recovery:
                self._auth_open.clear()
                try:
                    logger.info(
                        "%s: access token rejected again right after a refresh (another process or request may "
                        "share the token); refreshing for this request (%d of %d)",
                        what,
                        refreshes,
                        MAX_AUTH_REFRESHES,
                    )
                    yield await self.auth.refresh(self, failed_token=rejected, private=True)
                finally:
                    self._auth_open.set()
            return
        if rejected is not None:
            logger.info("%s: access token rejected (401); refreshing", what)
            await self.auth.refresh(self, failed_token=rejected)
        await self._auth_open.wait()
        yield await self.auth.access_token(self)

    def raise_for_status(self, response: httpx.Response, *, method: str, url: str) -> None:
        """Raise the typed error for an error response (status >= 400)."""
        status = response.status_code
        if status < 400:
            return
        detail = _error_detail(response)
        message = f"{method.upper()} {self._ring_path(url)}: HTTP {status}" + (f" ({detail})" if detail else "")
        error: RingError
        if status == 401:
            error = AuthenticationError(f"Ring rejected the login: {message}")
        elif status == 404 and _offline_codes(response):
            error = DeviceOfflineError(message, status=status)
        elif status == 404:
            error = NotFoundError(message, status=status)
        elif status == 406:
            error = RateLimitedError(message, status=status, hint=LONG_WAIT_HINT)
        elif status == 429:
            error = RateLimitedError(message, status=status)
        else:
            error = RingHttpError(message, status=status)
        raise error

    # -- sessions ------------------------------------------------------------------------------------------------
    def _is_session_not_found(self, response: httpx.Response) -> bool:
        if response.status_code != 404:
            return False
        data = _json_body(response)
        if not isinstance(data, dict):
            return False
        error = data.get("error")
        return isinstance(error, str) and "session not found" in error.lower() and self.auth.hardware_id in error

    async def _ensure_session(self, *, force_after_generation: int | None = None) -> None:
        async with self._session_lock:
            if force_after_generation is not None:
                if self._session_generation != force_after_generation:
                    return  # another call already re-created it
            elif (
                self._session_created_at is not None and time.monotonic() - self._session_created_at < SESSION_MAX_AGE_S
            ):
                return
            await self.create_session()

    def _stored_session(self) -> float | None:
        """A session another process created for our hardware id less than 12 h ago (as a monotonic time)."""
        store = self.auth.token_store
        if store is None:
            return None
        created = store.session_created_at(self.auth.hardware_id)
        if created is None:
            return None
        age = time.time() - created
        return time.monotonic() - age if 0 <= age < SESSION_MAX_AGE_S else None

    async def create_session(self) -> None:
        """``POST clients_api/session`` for our hardware id (normally done lazily by ``request``)."""
        body = {
            "device": {
                "hardware_id": self.auth.hardware_id,
                "metadata": {
                    "api_version": SESSION_API_VERSION,
                    "device_model": self.options.control_center_display_name,
                },
                "os": "android",
            }
        }
        await self.request("POST", endpoints.clients_api("session"), json=body, session=False)
        self._session_created_at = time.monotonic()
        if self.auth.token_store is not None:
            try:
                self.auth.token_store.note_session(self.auth.hardware_id, time.time())
            except TokenFileError as err:  # only an optimisation: the next process creates its own session
                logger.warning("could not record the session in the token file: %s", err)
        self._session_generation += 1
        self.stats.sessions_created += 1
        logger.debug("session created for this hardware id (generation %d)", self._session_generation)
        await self.on_session_created.emit(None)

    def expire_session(self) -> None:
        """Forget the session so the next ``clients_api`` call creates a new one."""
        self._session_created_at = None

    # -- sending with retries ------------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        retry_after: float | None = None
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            if isinstance(response, httpx.Response) and response.status_code in (429, 503):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            return _spread(min(retry_after, self.options.max_retry_after_s))
        return float(self._backoff(state))

    async def _limit(self, host: str) -> None:
        if self._limiter is not None and host in RING_HOSTS:
            await self._limiter.acquire()

    async def _send(
        self,
        method: str,
        url: str,
        *,
        host: str,
        params: Mapping[str, Any] | None,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,  # noqa: ASYNC109 - a per-request httpx timeout, not a cancel scope
        retry_safe: bool = False,
    ) -> httpx.Response:
        idempotent = retry_safe or method in IDEMPOTENT_METHODS
        display = f"{method} {url}"  # redacted by the logger's filter, only when a record is emitted

        async def attempt() -> httpx.Response:
            await self._limit(host)
            request = self._client.build_request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else httpx.Timeout(timeout),
            )
            self.stats.requests += 1
            started = time.monotonic()
            if self.options.debug:
                logger.debug("→ %s headers=%s body=%s", display, dict(request.headers), _body_for_log(request))
            else:
                logger.debug("→ %s", display)
            response = await self._client.send(request)
            elapsed_ms = (time.monotonic() - started) * 1000
            if response.status_code == 429:
                self.stats.rate_limited += 1
            if self.options.debug:
                logger.debug(
                    "← %s %d (%.0f ms) body=%s", display, response.status_code, elapsed_ms, response.text[:2000]
                )
            else:
                logger.debug("← %s %d (%.0f ms)", display, response.status_code, elapsed_ms)
            return response

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            outcome = state.outcome
            why = "?"
            if outcome is not None:
                why = type(outcome.exception()).__name__ if outcome.failed else f"HTTP {outcome.result().status_code}"
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "%s: %s; retrying in %.2f s (attempt %d of %d)",
                display,
                why,
                wait,
                state.attempt_number + 1,
                self.options.max_retries + 1,
            )

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.options.max_retries + 1:
                return True
            outcome = state.outcome
            unreachable = outcome is not None and isinstance(outcome.exception(), httpx.ConnectError)
            return unreachable and state.attempt_number >= self.options.connect_retries + 1

        retrying = AsyncRetrying(
            stop=stop,
            wait=self._wait,
            retry=retry_if_exception(lambda exc: _retryable_error(exc, idempotent))
            | retry_if_result(lambda response: _retryable_response(response, idempotent)),
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        try:
            response: httpx.Response = await retrying(attempt)
        except httpx.TransportError as err:
            raise CloudUnreachableError(
                f"cannot reach {host or 'the cloud'} ({self._ring_path(url)}): {type(err).__name__}"
                + (f": {redact(str(err))}" if str(err) else "")
            ) from err
        return response

    # -- media ---------------------------------------------------------------------------------------------------
    async def download(
        self,
        url: str,
        dest: Path,
        *,
        auth: bool = False,
        expected_type: str | None = None,
        progress: DownloadProgress | None = None,
    ) -> DownloadResult:
        """Stream ``url`` into ``dest`` (created or truncated) in constant memory.

        - Follows up to 5 redirects itself; ``Authorization`` is only ever sent to Ring's API hosts.
        - Resumes with ``Range`` after a dropped connection (restarts when the server ignores it), checks
          Content-Length, retries 429/5xx with backoff.
        - 404 from a storage host → ``RecordingNotReadyError``; 403 → ``RingHttpError`` (expired URL); no retry.
        - ``expected_type`` (e.g. ``video/mp4`` or ``image/``) guards against error pages saved as media.
        - ``progress(bytes_written, total)`` is called once the body starts (``total`` from Content-Length or
          Content-Range, None when unknown), after every chunk, and with 0 when the download starts over.
        - On failure ``dest`` is removed.
        """
        dest = Path(dest)
        handle = _open_for_writing(dest)
        state = _DownloadState(handle=handle, progress=progress)
        ok = False
        try:
            await self._download_with_retries(url, state, auth=auth, expected_type=expected_type)
            handle.flush()
            os.fsync(handle.fileno())
            ok = True
        except httpx.TransportError as err:
            raise CloudUnreachableError(
                f"download of {self._ring_path(url)} failed: {type(err).__name__} after {state.written} bytes"
            ) from err
        except (_IncompleteBody, _RetryableStatus) as err:
            if isinstance(err, _RetryableStatus) and err.status == 429:
                raise RateLimitedError(f"download of {self._ring_path(url)}: HTTP 429", status=429) from err
            if isinstance(err, _RetryableStatus):
                raise RingHttpError(
                    f"download of {self._ring_path(url)}: HTTP {err.status}", status=err.status
                ) from err
            raise CloudUnreachableError(
                f"download of {self._ring_path(url)} kept breaking off ({state.written} of {state.total} bytes)"
            ) from err
        finally:
            handle.close()
            if not ok:
                with contextlib.suppress(OSError):
                    dest.unlink()
        self.stats.bytes_downloaded += state.written
        return DownloadResult(
            path=dest, bytes=state.written, sha256=state.sha.hexdigest(), content_type=state.content_type
        )

    async def _download_with_retries(
        self, url: str, state: _DownloadState, *, auth: bool, expected_type: str | None
    ) -> None:
        max_attempts = max(20, (self.options.max_retries + 1) * 10)

        def stop(retry_state: RetryCallState) -> bool:
            return (
                state.failures_without_progress > self.options.max_retries or retry_state.attempt_number >= max_attempts
            )

        def wait(retry_state: RetryCallState) -> float:
            outcome = retry_state.outcome
            exc = outcome.exception() if outcome is not None and outcome.failed else None
            if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
                return _spread(min(exc.retry_after, self.options.max_retry_after_s))
            if state.last_failure_made_progress:
                return 0.0
            n = max(1, state.failures_without_progress)
            base = self.options.backoff_initial_s * 2 ** (n - 1) + random.uniform(0, self.options.backoff_initial_s)
            return float(min(base, self.options.backoff_max_s))

        def before_sleep(retry_state: RetryCallState) -> None:
            self.stats.retries += 1
            outcome = retry_state.outcome
            exc = outcome.exception() if outcome is not None else None
            logger.info(
                "download %s: %s after %d bytes; %s",
                self._ring_path(url),
                type(exc).__name__ if exc else "?",
                state.written,
                "resuming" if state.written else "retrying",
            )

        async def attempt() -> None:
            before = state.written
            try:
                await self._download_once(url, state, auth=auth, expected_type=expected_type)
            except (httpx.TransportError, _IncompleteBody, _RetryableStatus):
                progressed = state.written > before
                state.last_failure_made_progress = progressed
                state.failures_without_progress = 0 if progressed else state.failures_without_progress + 1
                raise

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(
                lambda exc: (
                    isinstance(exc, _IncompleteBody | _RetryableStatus)
                    or (isinstance(exc, httpx.TransportError) and _retryable_error(exc, True))
                )
            ),
            before_sleep=before_sleep,
            reraise=True,
        )
        await retrying(attempt)

    async def _download_once(self, url: str, state: _DownloadState, *, auth: bool, expected_type: str | None) -> None:
        current = url
        refreshes = 0
        rejected: str | None = None
        session_retried = False
        hops = 0
        while True:
            host = self.ring_host(current)
            use_bearer = auth and host in RING_API_HOSTS
            if use_bearer and self._is_clients_api(current):
                await self._ensure_session()
            generation = self._session_generation
            extra = {"Accept-Encoding": "identity"}
            if state.written:
                extra["Range"] = f"bytes={state.written}-"
            resolved = self.resolve(current)
            what = f"GET {self._ring_path(current)}"
            async with self._bearer_for_attempt(use_bearer, what, refreshes, rejected) as bearer:
                await self._limit(host)
                request = self._client.build_request(
                    "GET",
                    resolved,
                    headers=self._headers(host, bearer, extra),
                    timeout=httpx.Timeout(self.options.media_timeout_s, connect=self.options.timeout_s),
                )
                self.stats.requests += 1
                logger.debug(
                    "→ GET %s (media%s)", redact(resolved), f", from byte {state.written}" if state.written else ""
                )
                response = await self._client.send(request, stream=True)
            rejected = None
            try:
                logger.debug("← GET %s %d (media)", redact(resolved), response.status_code)
                if response.is_redirect and "location" in response.headers:
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise RingHttpError(
                            f"too many redirects from {self._ring_path(url)}", status=response.status_code
                        )
                    current = urljoin(resolved, response.headers["location"])
                    continue
                if response.status_code == 401 and use_bearer and refreshes < MAX_AUTH_REFRESHES:
                    refreshes += 1
                    rejected = bearer
                    continue
                if response.status_code >= 400:
                    await response.aread()
                if (
                    use_bearer
                    and not session_retried
                    and self._is_clients_api(current)
                    and self._is_session_not_found(response)
                ):
                    session_retried = True
                    await self._ensure_session(force_after_generation=generation)
                    continue
                self._check_media_status(response, current, host)
                await self._consume_media(response, state, expected_type, current)
                return
            finally:
                await response.aclose()

    def _check_media_status(self, response: httpx.Response, url: str, host: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 429 or status >= 500:
            if status == 429:
                self.stats.rate_limited += 1
            raise _RetryableStatus(status, parse_retry_after(response.headers.get("retry-after")))
        path = self._ring_path(url)
        if host in RING_HOSTS:
            self.raise_for_status(response, method="GET", url=url)
        if status == 404:
            raise RecordingNotReadyError(f"GET {path}: HTTP 404 from the storage host (not ready yet, or deleted)")
        if status == 403:
            raise RingHttpError(
                f"GET {path}: HTTP 403 from the storage host",
                status=403,
                hint="The signed media URL has expired; ask Ring for a new one.",
            )
        raise RingHttpError(f"GET {path}: HTTP {status} ({_error_detail(response)})", status=status)

    async def _consume_media(
        self, response: httpx.Response, state: _DownloadState, expected_type: str | None, url: str
    ) -> None:
        status = response.status_code
        if status == 206:
            span = _content_range(response.headers.get("content-range"))
            if span is None or span[0] != state.written:
                logger.info("download %s: unusable Content-Range; starting over", self._ring_path(url))
                state.restart()
                self.stats.download_restarts += 1
                raise _IncompleteBody("unusable Content-Range")
            if state.written:
                self.stats.download_resumes += 1
            state.total = span[1]
        else:
            if state.written:
                logger.info("download %s: server ignored Range; starting over", self._ring_path(url))
                state.restart()
                self.stats.download_restarts += 1
            length = response.headers.get("content-length")
            state.total = int(length) if length and length.isdigit() else None
        if state.content_type is None or status == 200:
            state.content_type = response.headers.get("content-type")
        if expected_type and not _type_matches(response.headers.get("content-type"), expected_type):
            raise ResponseFormatError(
                f"GET {self._ring_path(url)} answered {_media_type(response.headers.get('content-type')) or 'nothing'}"
                f", expected {expected_type}"
            )
        state.report()
        async for chunk in response.aiter_raw():  # as received: a drop loses nothing already read
            state.handle.write(chunk)
            state.sha.update(chunk)
            state.written += len(chunk)
            state.report()
        if state.total is not None and state.written < state.total:
            raise _IncompleteBody(f"{state.written} of {state.total} bytes")
        if state.total is not None and state.written > state.total:
            raise ResponseFormatError(f"GET {self._ring_path(url)} sent more bytes than announced")


def _open_for_writing(path: Path) -> IO[bytes]:
    """Create or truncate ``path`` for a download (the caller closes it)."""
    return path.open("wb")


def _spread(wait: float) -> float:
    """A ``Retry-After`` wait plus up to a quarter more: requests limited together must not all come back in the
    same instant (they would meet the limit again, together)."""
    return wait * random.uniform(1.0, 1.25)


def _retryable_error(exc: BaseException, idempotent: bool) -> bool:
    """Transport failures worth another attempt. Non-idempotent calls only when nothing was sent."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if not idempotent:
        return False
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


def _retryable_response(response: httpx.Response, idempotent: bool) -> bool:
    status = response.status_code
    if status in (429, 503, 504):
        return True
    if status in (500, 502):
        return idempotent
    return _offline_codes(response)


def _body_for_log(request: httpx.Request) -> str:
    try:
        body = request.content
    except httpx.RequestNotRead:
        return "<stream>"
    return body[:2000].decode("utf-8", "replace") if body else ""
