"""Web Push payload encryption as FCM does it for Chrome-style registrations: the legacy ``aesgcm`` scheme
(draft-ietf-webpush-encryption-03, reference §8.1), with a fresh server ECDH key and salt per message, for the
``p256dh`` public key and ``auth`` secret the client registered at ``fcmregistrations``. http_ece does the
cryptography (the same library firebase-messaging decrypts with)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import http_ece  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (as Web Push headers carry keys and salts)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode URL-safe base64 with or without padding; raises ``ValueError`` on garbage."""
    cleaned = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc


def valid_keys(p256dh: str, auth: str) -> bool:
    """True when ``p256dh`` is an uncompressed P-256 point and ``auth`` a 16-byte secret (base64url)."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
        return len(b64url_decode(auth)) == 16
    except ValueError:
        return False


@dataclass(frozen=True)
class Encrypted:
    """An ``aesgcm`` body and the two MCS ``app_data`` values a client needs to decrypt it."""

    raw_data: bytes
    crypto_key: str  # "dh=<server public key>"
    encryption: str  # "salt=<salt>"


def encrypt(payload: bytes, p256dh: str, auth: str) -> Encrypted:
    """Encrypt ``payload`` for one registration."""
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_public = server_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    salt = os.urandom(16)
    raw = http_ece.encrypt(
        payload,
        salt=salt,
        private_key=server_key,
        dh=b64url_decode(p256dh),
        auth_secret=b64url_decode(auth),
        version="aesgcm",
    )
    # Padded base64url: firebase-messaging decodes both values with ``urlsafe_b64decode`` as they come, without
    # re-padding (fm ``_decrypt_raw_data``), so the values FCM sends must carry their ``=`` padding [inferred].
    key_text = base64.urlsafe_b64encode(server_public).decode("ascii")
    salt_text = base64.urlsafe_b64encode(salt).decode("ascii")
    return Encrypted(raw_data=bytes(raw), crypto_key=f"dh={key_text}", encryption=f"salt={salt_text}")
