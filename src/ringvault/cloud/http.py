"""``RingHttp``: what Ring's account API needs on top of the shared transport (``ringvault.transport``).

The endpoint rule (``endpoints.resolve``), Ring's headers (``hardware_id``; the bearer token only to Ring's API
hosts), 401 → refresh → retry (bounded, see ``_bearer_for_attempt``), lazy session creation and re-creation, an
optional client-side rate limit (aiolimiter), Ring's retry rules (which answers are worth another attempt) and the
typed errors of ``ringvault.cloud.errors``; media downloads are in ``ringvault.cloud.media``. Timeouts, retries with
backoff and ``Retry-After``, redacted logging and resumable downloads are the transport's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit

from aiolimiter import AsyncLimiter

from ringvault.cloud import endpoints
from ringvault.cloud.errors import (
    AuthenticationError,
    CloudUnreachableError,
    ConnectionCutOffError,
    DeviceOfflineError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    RingError,
    RingHttpError,
)
from ringvault.cloud.options import RingApiOptions
from ringvault.cloud.tokens import TokenFileError
from ringvault.transport import (
    AsyncBaseTransport,
    BodyFormatError,
    CutOffError,
    DownloadProgress,
    DownloadResult,
    ExponentialBackoff,
    HttpClient,
    Response,
    RetryPolicy,
    TransportStats,
    UnreachableError,
    error_detail,
    install_log_redaction,
    json_or_none,
    parse_json,
    parse_retry_after,
    retryable_failure,
)

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
#: The longest wait after an answer whose body broke off: the host is there, so the long waits meant for an
#: overloaded or unreachable one do not help (``--max-retries 2`` on a dropped body took 73 s before).
CUT_OFF_MAX_WAIT_S = 2.0
LONG_WAIT_HINT = (
    "Ring's edge is blocking this IP (HTTP 406); wait several hours (up to a day) before trying again, "
    "and avoid repeated logins."
)


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
class HttpStats(TransportStats):
    """Counters of one ``RingHttp`` (for tests and benchmarks): the transport's plus Ring's own."""

    refreshes: int = 0
    sessions_created: int = 0

    @property
    def download_resumes(self) -> int:
        return self.resumes

    @property
    def download_restarts(self) -> int:
        return self.restarts


class _RetryableAnswer(Exception):
    """An answer Ring's rules say to send again for (429, 5xx, device offline); returned as is when retries end."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.status = response.status_code
        limited = response.status_code in (429, 503)
        self.retry_after = parse_retry_after(response.headers.get("retry-after")) if limited else None


# ---------------------------------------------------------------------------------------------------------------
# The HTTP layer


class RingHttp:
    """The one HTTP layer for all Ring traffic (API, OAuth and media hosts).

    Use it as an async context manager or call ``aclose()``. ``transport`` is for tests only.
    """

    def __init__(self, auth: RingAuth, options: RingApiOptions, *, transport: AsyncBaseTransport | None = None) -> None:
        self.auth = auth
        self.options = options
        self.stats = HttpStats()
        #: fired after every new session (re-subscribe cameras, re-register push there)
        self.on_session_created: Event[None] = Event()
        install_log_redaction("ringvault.cloud")  # also covers ringvault.cloud.* loggers created since import
        self._http = HttpClient(
            timeout_s=options.timeout_s,
            user_agent=options.user_agent,
            logger=logger,
            http2=True,
            debug=options.debug,
            transport=transport,
            stats=self.stats,
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

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RingHttp:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
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

    def _retry_policy(self) -> RetryPolicy:
        options = self.options
        return RetryPolicy(
            backoff=ExponentialBackoff(
                initial_s=options.backoff_initial_s,
                max_s=options.backoff_max_s,
                max_retry_after_s=options.max_retry_after_s,
            ),
            max_retries=options.max_retries,
            connect_retries=options.connect_retries,
            cut_off_max_wait_s=CUT_OFF_MAX_WAIT_S,
        )

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
        what = f"{method.upper()} {self._ring_path(url)}"
        if response.is_redirect:
            raise ResponseFormatError(
                f"{what} answered a redirect (HTTP {response.status_code}) where JSON was expected"
            )
        if response.status_code == 204 or not response.content.strip():
            return None
        ctype = response.headers.get("content-type")
        try:
            return parse_json(response.content, what=what, content_type=ctype)
        except BodyFormatError as err:
            detail = error_detail(response.content, ctype)
            raise ResponseFormatError(f"{err}: {detail!r}") from err

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
    ) -> Response:
        """The status-checked low-level call. Returns 2xx and 3xx responses (redirects are not followed).

        ``session``: make sure a ``clients_api`` session exists first (and re-create it on "Session not found").
        ``auth``: send the bearer token (only ever to Ring's API hosts) and refresh on 401 (see
        ``_bearer_for_attempt``). ``raise_for_status=False`` returns error responses too (after retries) instead
        of raising. ``retry_safe``: retry this call like a GET (500/502 and broken connections too) although its
        method is not idempotent, for calls where a second attempt can never do harm that the failed one had not
        done already.
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
                logger.info("%s: Ring lost our session; creating a new one", what)
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

    def raise_for_status(self, response: Response, *, method: str, url: str) -> None:
        """Raise the typed error for an error response (status >= 400)."""
        if response.status_code >= 400:
            raise self._status_error(response, response.content, method=method, url=url)

    def _status_error(self, response: Response, body: bytes, *, method: str, url: str) -> RingError:
        """The typed error for an error answer (``body``: what was read of it)."""
        status = response.status_code
        detail = error_detail(body, response.headers.get("content-type"))
        message = f"{method.upper()} {self._ring_path(url)}: HTTP {status}" + (f" ({detail})" if detail else "")
        if status == 401:
            return AuthenticationError(f"Ring rejected the login: {message}")
        if status == 404 and _offline_codes(status, body):
            return DeviceOfflineError(message, status=status)
        if status == 404:
            return NotFoundError(message, status=status)
        if status == 406:
            return RateLimitedError(message, status=status, hint=LONG_WAIT_HINT)
        if status == 429:
            return RateLimitedError(message, status=status)
        return RingHttpError(message, status=status)

    # -- sessions ------------------------------------------------------------------------------------------------
    def _is_session_not_found(self, response: Response) -> bool:
        if response.status_code != 404:
            return False
        data = json_or_none(response.content)
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
            await self._new_session()
        # Subscribers hear of it once the lock is free: one that calls clients_api (re-subscribing cameras,
        # re-registering the push token) would otherwise wait for the lock its own caller holds.
        await self.on_session_created.emit(None)

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
        await self._new_session()
        await self.on_session_created.emit(None)

    async def _new_session(self) -> None:
        """The session call and its bookkeeping; the caller fires ``on_session_created`` (outside any lock)."""
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

    def expire_session(self) -> None:
        """Forget the session so the next ``clients_api`` call creates a new one."""
        self._session_created_at = None

    # -- sending with retries ------------------------------------------------------------------------------------
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
    ) -> Response:
        """One request with Ring's retry rules; the last answer comes back when the retries run out."""
        idempotent = retry_safe or method in IDEMPOTENT_METHODS
        display = f"{method} {url}"  # redacted by the logger's filter, only when a record is emitted

        async def attempt() -> Response:
            await self._limit(host)
            request = self._http.build_request(
                method, url, params=params, json=json, content=content, headers=headers, timeout=timeout
            )
            response = await self._http.send(request, display=display)
            if _retryable_answer(response, idempotent):
                raise _RetryableAnswer(response)
            return response

        try:
            return await self._http.retry(
                attempt,
                policy=self._retry_policy(),
                retryable=lambda exc: (
                    isinstance(exc, _RetryableAnswer) or retryable_failure(exc, idempotent=idempotent)
                ),
                what=display,
            )
        except _RetryableAnswer as last:
            return last.response
        except CutOffError as err:
            raise ConnectionCutOffError(
                f"{method} {self._ring_path(url)}: {host or 'the server'} cut the answer off "
                f"{times(err.times)} ({err.reason})"
            ) from err
        except UnreachableError as err:
            raise CloudUnreachableError(
                f"cannot reach {host or 'the cloud'} ({self._ring_path(url)}): {err.reason}"
            ) from err

    # -- media ---------------------------------------------------------------------------------------------------
    async def download(
        self,
        url: str,
        dest: Path,
        *,
        auth: bool = False,
        expected_type: str | None = None,
        progress: DownloadProgress | None = None,
        fsync: bool = True,
    ) -> DownloadResult:
        """Stream ``url`` into ``dest`` (created or truncated) in constant memory: see ``ringvault.cloud.media``.

        Redirects followed (``Authorization`` only ever to Ring's API hosts), resume with ``Range``, 429/5xx retried,
        404 from a storage host → ``RecordingNotReadyError``, 403 → ``RingHttpError`` (expired URL), a body that
        keeps breaking off → ``ConnectionCutOffError``; ``expected_type`` guards against error pages saved as media;
        ``progress(bytes_written, total)`` follows the bytes. On failure ``dest`` is removed. ``fsync=False``: the
        caller makes the file durable itself (off the event loop).
        """
        from ringvault.cloud.media import download_media

        return await download_media(
            self, url, Path(dest), auth=auth, expected_type=expected_type, progress=progress, fsync=fsync
        )


def times(n: int) -> str:
    """ "once", "2 times" ... for messages."""
    return "once" if n == 1 else f"{n} times"


def _offline_codes(status: int, body: bytes) -> bool:
    if status != 404:
        return False
    data = json_or_none(body)
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


def _retryable_answer(response: Response, idempotent: bool) -> bool:
    """Answers worth another attempt: 429/503/504 always, 500/502 when repeating does no harm, device offline."""
    status = response.status_code
    if status in (429, 503, 504):
        return True
    if status in (500, 502):
        return idempotent
    return _offline_codes(status, response.content)
