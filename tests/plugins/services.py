"""Start the real PostgreSQL and Redis the suite needs, before Django loads.

Loaded with `-p tests.plugins.services` so it runs before pytest-django reads
the settings: when DATABASE_URL / REDIS_URL are not set, it starts each server
from the installed binaries in a temporary directory on a free loopback port,
exports the URLs, and stops them when the session ends. With CI=true a missing
server binary is an error, never a skip.
"""

from __future__ import annotations

import atexit
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.net import free_port


class ServiceUnavailable(RuntimeError):
    pass


def _find(binary: str, extra_dirs: list[str]) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / binary
        if candidate.exists():
            return str(candidate)
    return None


def _postgres_bin_dirs() -> list[str]:
    root = Path("/usr/lib/postgresql")
    if not root.exists():
        return []
    return [str(p / "bin") for p in sorted(root.iterdir(), reverse=True)]


def _wait_for_port(port: int, name: str, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServiceUnavailable(f"{name} did not start listening on port {port}")


def start_postgres(workdir: Path) -> str:
    dirs = _postgres_bin_dirs()
    initdb, pg_ctl = _find("initdb", dirs), _find("pg_ctl", dirs)
    if not initdb or not pg_ctl:
        raise ServiceUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) not found"
        )
    data = workdir / "pg"
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run it as an unprivileged user.
        run_as = ["runuser", "-u", "nobody", "--"]
        workdir.chmod(0o777)
    subprocess.run(
        [
            *run_as,
            initdb,
            "-D",
            str(data),
            "-U",
            "flowdeck",
            "-A",
            "trust",
            "-E",
            "UTF8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    port = free_port()
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(workdir / "pg.log"),
            "-w",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    atexit.register(
        lambda: subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    _wait_for_port(port, "PostgreSQL")
    return f"postgres://flowdeck@127.0.0.1:{port}/postgres"


def start_redis(workdir: Path) -> str:
    server = _find("redis-server", [])
    if not server:
        raise ServiceUnavailable("redis-server not found")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(process.terminate)
    _wait_for_port(port, "Redis")
    return f"redis://127.0.0.1:{port}/0"


def ensure_services() -> None:
    in_ci = os.environ.get("CI", "").lower() == "true"
    workdir = Path(tempfile.mkdtemp(prefix="flowdeck-test-services-"))
    atexit.register(shutil.rmtree, workdir, True)
    # Always a fresh one, even where the environment names one (the Makefile
    # exports `make run`'s): each session's test database gives its ids again,
    # and what an earlier session's tasks left there must not meet them.
    os.environ["FLOWDECK_DATA_DIR"] = str(workdir / "data")
    # Tasks in the local backend's sandbox see a private /tmp; tests hand them
    # marker files in pytest's temporary directories, so those stay shared.
    os.environ.setdefault(
        "FLOWDECK_LOCAL_SANDBOX_PATHS",
        str(Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"),
    )
    for variable, start in (
        ("DATABASE_URL", start_postgres),
        ("REDIS_URL", start_redis),
    ):
        if os.environ.get(variable):
            continue
        try:
            os.environ[variable] = start(workdir)
        except (ServiceUnavailable, subprocess.CalledProcessError) as error:
            if in_ci:
                raise
            print(f"[flowdeck tests] {variable}: {error}; tests that need it skip")
            os.environ[f"FLOWDECK_TEST_NO_{variable}"] = str(error)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return
    os.environ.setdefault("DATABASE_URL", "sqlite:///test.sqlite3")


ensure_services()
