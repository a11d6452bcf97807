"""A real PostgreSQL server for the tests: ``initdb`` in a temporary directory, ``postgres`` on 127.0.0.1 on a free
port (no Unix socket), one database per test, stopped by its PID.

``initdb`` refuses to run as root, so as root both run as the ``postgres`` user (the Debian package creates it);
as anyone else they run as that user. The binaries are Debian's (``/usr/lib/postgresql/<version>/bin``, newest
first), or ``initdb``/``postgres`` on ``PATH``, or those in ``RINGVAULT_TEST_PG_BINDIR``. ``make test`` installs
the ``postgresql`` package when none is found.

The server is tuned for tests, not for safety: no fsync, no synchronous commit, no full-page writes (a crash loses the
test's data, which is thrown away anyway). The superuser ``postgres`` has a random password and TCP connections
must give it (scram-sha-256), so every test goes through the password path a real deployment uses.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

#: Where a developer may point the tests at other PostgreSQL binaries.
BINDIR_ENV = "RINGVAULT_TEST_PG_BINDIR"
INSTALL_HINT = "install PostgreSQL (`apt-get install postgresql`, or run `make test`, which installs it)"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine, or the server would not start (the message says which)."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``."""
    configured = os.environ.get(BINDIR_ENV, "").strip()
    if configured:
        bindir = Path(configured)
        if not (bindir / "initdb").exists() or not (bindir / "postgres").exists():
            raise PostgresUnavailableError(f"{BINDIR_ENV}={configured} holds no initdb and postgres binaries")
        return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    for initdb in candidates:
        bindir = Path(initdb).parent
        if (bindir / "postgres").exists():
            return bindir
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(os.path.realpath(on_path)).parent
    raise PostgresUnavailableError(f"no PostgreSQL server binaries (initdb, postgres) on this machine: {INSTALL_HINT}")


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (the caller retries when another process takes it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """One running server: ``admin_url`` (superuser, database ``postgres``), ``create_database()`` for a test's
    own database, ``stop()``. Use :func:`start_postgres` to get one."""

    bindir: Path
    root: Path
    port: int
    password: str = field(repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _databases: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        """A SQLAlchemy URL (``driver='postgresql'`` for a libpq one) of ``database`` with the superuser."""
        return f"{driver}://postgres:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    @property
    def admin_url(self) -> str:
        return self.url()

    def conninfo(self, database: str = "postgres") -> str:
        return self.url(database, driver="postgresql")

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its name (``<prefix>_<n>``, unique on this server)."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=30) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a name made above: no quoting issue
        return name

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by its PID), immediate (SIGQUIT) if it takes too long; then
        the directory goes."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            for sig, wait_s in ((signal.SIGINT, STOP_TIMEOUT_S), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)
                try:
                    process.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as() -> tuple[str | None, int | None, int | None]:
    """(user name, uid, gid) to run PostgreSQL as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None, None, None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "running as root, but there is no `postgres` user to run PostgreSQL as (initdb refuses root): "
            + INSTALL_HINT
        ) from None
    return entry.pw_name, entry.pw_uid, entry.pw_gid


def start_postgres(*, attempts: int = 5) -> PostgresServer:
    """initdb + start a server on a free port of 127.0.0.1; raises :class:`PostgresUnavailableError`."""
    bindir = find_bindir()
    user, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="ringvault-pg-"))
    password = secrets.token_urlsafe(18)
    try:
        if uid is not None and gid is not None:
            os.chown(root, uid, gid)
        pwfile = root / "pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if uid is not None and gid is not None:
            os.chown(pwfile, uid, gid)
        _initdb(bindir, root, pwfile, user)
        pwfile.unlink()
        last = ""
        for _ in range(attempts):
            server = PostgresServer(bindir=bindir, root=root, port=free_port(), password=password)
            if _launch(server, user):
                return server
            last = server.log_tail()
            if "could not bind" not in last and "already in use" not in last:
                break
        raise PostgresUnavailableError(f"PostgreSQL did not start; its log ends:\n{last}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _initdb(bindir: Path, root: Path, pwfile: Path, user: str | None) -> None:
    args = [
        str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
    ]  # fmt: skip
    result = subprocess.run(args, user=user, cwd=root, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise PostgresUnavailableError(f"initdb failed (exit {result.returncode}): {detail}")


def _launch(server: PostgresServer, user: str | None) -> bool:
    """Start the postmaster; True once it accepts connections, False when it exited (see its log)."""
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(server.port),
        "unix_socket_directories": "",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
        "shared_buffers": "64MB",
    }
    args = [str(server.bindir / "postgres"), "-D", str(server.data_dir)]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    with server.log_file.open("ab") as log:
        server.process = subprocess.Popen(
            args, user=user, cwd=server.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl+C in the terminal reaches pytest, which stops the server itself
        )  # fmt: skip
    return _wait_ready(server)


def _wait_ready(server: PostgresServer) -> bool:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            server.process = None
            return False
        try:
            with psycopg.connect(server.conninfo(), connect_timeout=5):
                return True
        except psycopg.OperationalError:
            time.sleep(0.1)
    server.stop()
    raise PostgresUnavailableError(f"PostgreSQL did not accept connections within {START_TIMEOUT_S:.0f} s")
