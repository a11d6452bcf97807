"""Redaction of secrets in everything that may be logged or shown.

``redact`` masks tokens, passwords, 2FA codes, API keys, ``Authorization`` values and signed-URL credentials by pattern,
and every value registered with ``register_secret`` wherever it appears. ``RedactingFilter`` rewrites log records
through it; ``install_log_redaction`` attaches the filter to the loggers that carry requests.
"""

from __future__ import annotations

import logging
import re

_KNOWN_SECRETS: dict[str, None] = {}
_MAX_KNOWN_SECRETS = 256
_MASK = "***"
_SECRET_KEYS = r"[\w-]*token|[\w-]*secret|password|passwd|2fa-code|code|rt|authcode|ticket|[\w-]*api[_-]?key"
#: Query parameters that carry a key (``ringvault serve`` accepts ``?api_key=``; Google-style APIs use ``?key=``).
_KEY_PARAMS = r"key|[\w-]*api[_-]?key"
_SIGNED_URL_PARAMS = (
    r"x-amz-signature|x-amz-credential|x-amz-security-token|signature|x-goog-signature|x-goog-credential"
    r"|key-pair-id|policy|sig"
)
_JSON_SECRET_RE = re.compile(rf"""(["'](?:{_SECRET_KEYS})["']\s*:\s*)(["'])(?:\\.|(?!\2).)*\2""", re.IGNORECASE)
_QUERY_SECRET_RE = re.compile(
    rf"""((?:^|(?<=[?&\s,;{{(\[]))(?:{_SECRET_KEYS}|{_SIGNED_URL_PARAMS}|{_KEY_PARAMS})=)[^&\s"'<>]+""", re.IGNORECASE
)
_AUTH_SCHEME_RE = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/=]+", re.IGNORECASE)
_HEADER_SECRET_RE = re.compile(
    r"""((?:authorization|2fa-code|x-api-key)["']?\s*[:=]\s*["']?)(?!(?:Bearer|Basic)\b)[^\s"',}]+""", re.IGNORECASE
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
    """Mask tokens, passwords, 2FA codes, API keys (``api_key=``, ``key=``, ``X-API-Key``), ``Authorization`` values
    and signed-URL credentials in ``text``."""
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
#: Loggers that carry requests: ours (the transport) and httpx's own.
_REDACTED_LOGGERS = (
    "ringvault.transport",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "hpack",
)


def install_log_redaction(*names: str) -> None:
    """Attach the redaction filter to the transport's and httpx's loggers, to each of ``names`` and to every existing
    child of them (``a.b`` for ``a``): filters are not inherited, so a module calls this again once its loggers
    exist (the Ring client does it for ``ringvault.cloud.*`` whenever it opens)."""
    roots = (*_REDACTED_LOGGERS, *names)
    prefixes = tuple(f"{name}." for name in roots)
    children = [n for n in list(logging.root.manager.loggerDict) if n.startswith(prefixes)]
    for name in (*roots, *children):
        target = logging.getLogger(name)
        if _REDACTING_FILTER not in target.filters:
            target.addFilter(_REDACTING_FILTER)


install_log_redaction()
