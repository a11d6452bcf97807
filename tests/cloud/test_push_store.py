"""The push listener's files: FCM credentials and delivered ids beside the token file (0600, atomic, corrupt-safe),
and their secrets never in a log line."""

from __future__ import annotations

import json
import logging
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ringvault.cloud.push.store import PushStore, SeenIds
from ringvault.transport.redaction import RedactingFilter


def fake_credentials(tag: str = "a") -> dict[str, Any]:
    """The blob firebase-messaging hands to ``credentials_updated_callback`` (reference §8.1), with made-up values."""
    return {
        "keys": {
            "public": f"BPUBLICKEY-{tag}-0123456789abcdef",
            "private": f"MIGHAgEAPRIVATE-{tag}-0123456789abcdef",
            "secret": f"AUTHSECRET-{tag}-01234",
        },
        "gcm": {
            "token": f"gcmtoken-{tag}-0123456789",
            "app_id": f"wp:receiver.push.com#00000000-0000-4000-8000-00000000000{tag}",
            "android_id": "4821337712345678901",
            "security_token": "8123456789012345678",
        },
        "fcm": {
            "registration": {
                "name": f"projects/ring-17770/registrations/reg-{tag}-0123",
                "token": f"fcmtoken-{tag}-ABCDEFGHIJKLMNOP",
                "web": {"endpoint": "https://fcm.googleapis.com/fcm/send/x", "p256dh": "p256-xyz", "auth": "auth-1"},
            },
            "installation": {
                "token": f"installtoken-{tag}-0123456789",
                "expires_in": 604800,
                "refresh_token": f"fisrefresh-{tag}-0123456789",
                "fid": f"fid-{tag}-0123456789",
                "created_at": 12.5,
            },
        },
        "config": {"bundle_id": "receiver.push.com", "project_id": "ring-17770", "vapid_key": None},
    }


def test_store_lives_beside_the_token_file_private_and_atomic(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    store = PushStore.beside(home / "token.json")
    assert store.credentials_path == home / "token.push.json"
    assert store.seen_path == home / "token.push-seen.json"
    store.save_credentials(fake_credentials(), "http://127.0.0.1:9")
    assert stat.S_IMODE(store.credentials_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700  # the directory we created
    assert [p.name for p in home.iterdir()] == ["token.push.json"]  # no temporary file left behind
    # a restart reads the same credentials back (so it only checks in again)
    assert PushStore.beside(home / "token.json").load_credentials("http://127.0.0.1:9") == fake_credentials()


def test_credentials_of_another_cloud_are_not_reused(tmp_path: Path) -> None:
    store = PushStore.beside(tmp_path / "token.json")
    store.save_credentials(fake_credentials(), "http://127.0.0.1:9")
    assert store.load_credentials(None) is None  # registered with a simulator: useless at Google
    assert store.load_credentials("http://127.0.0.1:9") is not None


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2]", b"\xff\xfe\x00garbage", json.dumps({"credentials": {"gcm": {}}}).encode(), b""],
)
def test_a_corrupt_credentials_file_is_one_warning_and_a_new_registration(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = PushStore.beside(tmp_path / "token.json")
    assert store.credentials_path is not None
    store.credentials_path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="ringvault.cloud.push"):
        assert store.load_credentials(None) is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert str(store.credentials_path) in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage() and warnings[0].exc_info is None
    # the next registration replaces it
    store.save_credentials(fake_credentials("b"), None)
    assert store.load_credentials(None) == fake_credentials("b")


def test_no_secret_of_the_credentials_reaches_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Once stored or loaded, every secret is masked wherever a (redacted) logger would print it."""
    credentials = fake_credentials("z")
    store = PushStore.beside(tmp_path / "token.json")
    store.save_credentials(credentials, None)
    PushStore.beside(tmp_path / "token.json").load_credentials(None)
    logger = logging.getLogger("ringvault.cloud.push.test")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG, logger="ringvault.cloud.push.test"):
        logger.debug("credentials: %s", credentials)
        logger.warning("library said %s", json.dumps(credentials))
    text = caplog.text
    secrets = [
        credentials["keys"]["private"],
        credentials["keys"]["secret"],
        credentials["gcm"]["security_token"],
        credentials["gcm"]["android_id"],
        credentials["gcm"]["token"],
        credentials["fcm"]["registration"]["token"],
        credentials["fcm"]["installation"]["token"],
        credentials["fcm"]["installation"]["refresh_token"],
    ]
    assert text  # the lines were logged ...
    for secret in secrets:
        assert secret not in text  # ... without any secret


def test_delivered_ids_survive_a_restart_bounded(tmp_path: Path) -> None:
    store = PushStore.beside(tmp_path / "token.json")
    persistent, keys = store.load_seen()
    assert len(persistent) == 0 and len(keys) == 0
    for n in range(persistent.limit + 50):
        persistent.add(f"0:{n}")
    keys.add("ding:7407512345678901234")
    store.save_seen(persistent, keys)
    assert store.seen_path is not None and stat.S_IMODE(store.seen_path.stat().st_mode) == 0o600
    again, again_keys = PushStore.beside(tmp_path / "token.json").load_seen()
    assert len(again) == persistent.limit
    assert "0:0" not in again and f"0:{persistent.limit + 49}" in again  # the oldest fell out
    assert "ding:7407512345678901234" in again_keys
    store.seen_path.write_text("{broken")
    empty, _ = store.load_seen()  # a corrupt record starts empty, never raises
    assert len(empty) == 0


def test_seen_ids_is_bounded_and_ordered() -> None:
    seen = SeenIds(3, ["a", "b"])
    assert seen.add("c") and not seen.add("a")
    assert seen.add("d")
    assert seen.items() == ["b", "c", "d"]


def test_in_memory_store_keeps_credentials_for_the_process_only() -> None:
    store = PushStore(None)
    assert store.load_credentials(None) is None
    store.save_credentials(fake_credentials(), None)
    assert store.load_credentials(None) == fake_credentials()


def test_one_process_holds_the_push_lock_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    token = tmp_path / "home" / "token.json"
    first, second = PushStore.beside(token), PushStore.beside(token)
    assert first.try_lock() and first.try_lock()  # taking it again is a no-op
    assert not second.try_lock()
    lock_path = first.lock_path
    assert lock_path is not None and lock_path.name == "token.push.lock"
    assert stat.S_IMODE(lock_path.stat().st_mode) == 0o600
    first.release_lock()
    assert second.try_lock()
    second.release_lock()
    # a holder killed with SIGKILL leaves the lock file, not the lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from ringvault.cloud.push.store import PushStore; "
            "store = PushStore.beside(Path(sys.argv[1])); assert store.try_lock(); print('held', flush=True); "
            "time.sleep(120)",
            str(token),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not first.try_lock()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert first.try_lock()
    first.release_lock()


def test_in_memory_store_needs_no_lock() -> None:
    store = PushStore(None)
    assert store.lock_path is None and store.try_lock() and PushStore(None).try_lock()
