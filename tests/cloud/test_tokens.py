"""The token file: atomic private writes, clear errors, rca imports, a stable hardware id, and rotations that
survive two processes sharing one file (against the real simulator)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ringvault.cloud.auth import RefreshTokenAuth
from ringvault.cloud.http import RingHttp
from ringvault.cloud.tokens import StoredToken, TokenFileError, TokenStore, parse_refresh_token
from ringvault.sim.server import SimServer
from tests.cloud.http_helpers import (
    PROFILE_URL,
    fast_options,
    login_to_store,
    token_endpoint_statuses,
)


def _token(**overrides: object) -> StoredToken:
    values: dict[str, object] = {
        "refresh_token": "rt-one",
        "hardware_id": "hid-1",
        "access_token": "at-one",
        "expires_at": 2_000_000_000.0,
        "email": "user@example.com",
    }
    values.update(overrides)
    return StoredToken(**values)  # type: ignore[arg-type]


def test_save_and_load_round_trip_private_file(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "new" / "nested" / "token.json")
    assert store.load() is None  # a missing file is "not logged in", not an error
    store.save(_token())
    loaded = store.load()
    assert loaded is not None
    assert (loaded.refresh_token, loaded.hardware_id, loaded.access_token) == ("rt-one", "hid-1", "at-one")
    assert loaded.email == "user@example.com" and loaded.expires_at == 2_000_000_000.0
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700  # we created it
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert sorted(p.name for p in store.path.parent.iterdir() if not p.name.endswith(".lock")) == ["token.json"]


def test_existing_directory_mode_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    TokenStore(shared / "token.json").save(_token())
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "token.json").stat().st_mode) == 0o600


def test_file_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = TokenStore(tmp_path / "token.json")
        store.save(_token())
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_save_is_atomic_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenStore(tmp_path / "token.json")
    store.save(_token(refresh_token="rt-old"))
    before = store.path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(TokenFileError, match=r"token\.json"):
        store.save(_token(refresh_token="rt-new"))
    monkeypatch.undo()
    assert store.path.read_bytes() == before  # the old login is intact
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []  # no temp file left behind
    loaded = store.load()
    assert loaded is not None and loaded.refresh_token == "rt-old"


def test_save_fsyncs_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    TokenStore(tmp_path / "token.json").save(_token())
    assert events.index("fsync") < events.index("replace")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"refresh_token": 5, "hardware_id": "x"}'])
def test_corrupt_file_names_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token.json"
    path.write_text(content)
    with pytest.raises(TokenFileError) as info:
        TokenStore(path).load()
    assert str(path) in str(info.value)
    assert "corrupt" in str(info.value)
    assert info.value.hint


def test_hardware_id_is_generated_once_and_persisted_before_login(tmp_path: Path) -> None:
    path = tmp_path / "home" / "token.json"
    first = TokenStore(path).hardware_id()
    assert len(first) == 36  # a uuid4
    assert TokenStore(path).hardware_id() == first  # a new store (a new process) reads the same id
    assert TokenStore(path).load() is None  # still not logged in
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store = TokenStore(path)
    store.save(_token(hardware_id=first))
    assert store.delete() is True  # logout keeps the hardware id ...
    assert store.load() is None
    assert TokenStore(path).hardware_id() == first
    assert store.delete() is False
    assert store.forget_login() is False
    store.save(_token(hardware_id=first))
    assert store.delete(forget_hardware_id=True) is True  # ... unless asked to forget everything
    assert not path.exists()
    assert store.delete() is False
    assert TokenStore(path).hardware_id() != first


def test_parse_refresh_token_accepts_rca_exports_and_raw_tokens() -> None:
    exported = base64.b64encode(json.dumps({"rt": "ring-rt", "hid": "rca-hid", "pnc": {"x": 1}}).encode()).decode()
    assert parse_refresh_token(exported) == ("ring-rt", "rca-hid")
    unpadded = exported.rstrip("=")
    assert parse_refresh_token(unpadded) == ("ring-rt", "rca-hid")
    no_hid = base64.b64encode(json.dumps({"rt": "only-rt"}).encode()).decode()
    assert parse_refresh_token(no_hid) == ("only-rt", None)
    assert parse_refresh_token("  raw-ring-token_abc.def  ") == ("raw-ring-token_abc.def", None)
    other_json = base64.b64encode(json.dumps({"foo": "bar"}).encode()).decode()
    assert parse_refresh_token(other_json) == (other_json, None)


def test_refresh_token_auth_imports_an_rca_token_into_the_store(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "token.json")
    store.hardware_id()  # an older id exists already
    exported = base64.b64encode(json.dumps({"rt": "ring-rt", "hid": "rca-hid"}).encode()).decode()
    auth = RefreshTokenAuth(exported, token_store=store)
    assert auth.refresh_token == "ring-rt"
    assert auth.hardware_id == "rca-hid"  # keep rca's Control Center entry
    stored = store.load()
    assert stored is not None and (stored.refresh_token, stored.hardware_id) == ("ring-rt", "rca-hid")
    again = RefreshTokenAuth(token_store=store)
    assert (again.refresh_token, again.hardware_id) == ("ring-rt", "rca-hid")


def test_lock_excludes_other_processes(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "token.json")
    probe = textwrap.dedent(
        """
        import sys
        from filelock import FileLock, Timeout
        try:
            FileLock(sys.argv[1]).acquire(timeout=0.3)
        except Timeout:
            print("blocked")
        else:
            print("acquired")
        """
    )
    with store.lock():
        held = subprocess.run([sys.executable, "-c", probe, str(store.lock_path)], capture_output=True, text=True)
    free = subprocess.run([sys.executable, "-c", probe, str(store.lock_path)], capture_output=True, text=True)
    assert held.stdout.strip() == "blocked", held.stderr
    assert free.stdout.strip() == "acquired", free.stderr


_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from ringvault.cloud.auth import RefreshTokenAuth
    from ringvault.cloud.http import RingHttp
    from ringvault.cloud.options import RingApiOptions
    from ringvault.cloud.tokens import TokenStore

    async def main() -> None:
        path, rounds, start_at = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
        store = TokenStore(path)
        auth = RefreshTokenAuth(token_store=store)
        seen = []
        auth.on_refresh_token_updated.subscribe(lambda update: seen.append(update.new_refresh_token))
        options = RingApiOptions(backoff_initial_s=0.05, backoff_max_s=0.2)
        while time.time() < start_at:  # both workers start together
            await asyncio.sleep(0.005)
        async with RingHttp(auth, options) as http:
            for _ in range(rounds):
                await auth.refresh(http, failed_token=auth.current_access_token)  # force a rotation
                await http.request_json("GET", "https://api.ring.com/clients_api/profile")
        print(f"grants={http.stats.refreshes} rotations_seen={len(seen)}")

    asyncio.run(main())
    """
)


async def test_two_processes_sharing_one_token_file_never_lose_a_rotation(cloud_env: SimServer, tmp_path: Path) -> None:
    sim = cloud_env
    store = TokenStore(tmp_path / "shared" / "token.json")
    await login_to_store(sim, store)
    before = token_endpoint_statuses(sim)
    rounds = 6
    start_at = f"{time.time() + 1.5:.3f}"
    env = {**os.environ, "RINGVAULT_CLOUD_URL": sim.url}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER,
            str(store.path),
            str(rounds),
            start_at,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await asyncio.wait_for(proc.communicate(), timeout=90) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-3000:]
    grants = [int(out.decode().split("grants=")[1].split()[0]) for out, _ in outputs]
    assert sum(grants) >= rounds  # real rotations happened (some rounds adopt the other process's rotation)

    after = token_endpoint_statuses(sim)
    assert after.get("401", 0) == before.get("401", 0), "the simulator answered invalid_grant: a rotation was lost"
    assert after.get("200", 0) - before.get("200", 0) == sum(grants)

    # The file still holds a live refresh token: it refreshes (and rotates) once more.
    auth = RefreshTokenAuth(token_store=store)
    final = auth.refresh_token
    async with RingHttp(auth, fast_options(sim)) as http:
        await auth.refresh(http, failed_token=auth.current_access_token)
        assert await http.request_json("GET", PROFILE_URL)
        assert http.stats.refreshes == 1
    stored = store.load()
    assert stored is not None and stored.refresh_token != final and stored.refresh_token == auth.refresh_token
    assert token_endpoint_statuses(sim).get("401", 0) == before.get("401", 0)
