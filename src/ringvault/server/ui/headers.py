"""Security headers on every response of ``ringvault serve``.

The pages run no inline script and no inline style: ``script-src 'self'`` and ``style-src 'self'`` hold, so markup
injected through Ring data could not run even if it escaped the templates' autoescaping. ``/docs`` and ``/redoc``
(Swagger UI and ReDoc from ``fastapi-offline``) start themselves with an inline script; they get a policy of their own
that allows exactly that, and nothing from another host.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeadersMiddleware"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: Swagger UI and ReDoc: their own inline start-up script and styles, still nothing from elsewhere
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_DOCS_PATHS = ("/docs", "/redoc")


def _policy_for(path: str) -> str:
    if path in _DOCS_PATHS or path.startswith("/docs/"):
        return DOCS_POLICY
    return CONTENT_SECURITY_POLICY


class SecurityHeadersMiddleware:
    """Pure ASGI (streams pass through untouched): adds the headers to each response's start message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = _policy_for(str(scope.get("path", ""))).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
