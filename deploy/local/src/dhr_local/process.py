"""Small helpers shared by the local Kafka broker and PostgreSQL cluster: ports, pids, logs, paths."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# deploy/local/src/dhr_local/process.py -> deploy/local
LOCAL_DEPLOY_DIR = Path(__file__).resolve().parents[2]
REPOSITORY_ROOT = LOCAL_DEPLOY_DIR.parents[1]


class InfrastructureError(RuntimeError):
    """A local broker or database could not be found, started, reached or stopped."""


def default_state_dir() -> Path:
    """Where `dhr-local` keeps data, logs and pids: $DHR_STATE_DIR or <repository>/.local."""
    configured = os.environ.get("DHR_STATE_DIR")
    return Path(configured).expanduser() if configured else REPOSITORY_ROOT / ".local"


def cache_dir() -> Path:
    """Downloads shared by every checkout: $DHR_CACHE_DIR or ~/.cache/dhr."""
    configured = os.environ.get("DHR_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "dhr"


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now (not one of `avoid`)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in avoid:
            return port


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, or a note that it does not exist."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_alive(pid: int, command_contains: str | None = None) -> bool:
    """True when `pid` runs and is not a zombie (and its command line mentions the given text).

    The command-line check keeps a stale pid file from pointing us at an unrelated process that
    happened to get the same pid after a reboot.
    """
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in {"Z", "X"}:
        return False
    return command_contains is None or command_contains in cmdline


def terminate(pid: int, timeout: float, command_contains: str | None = None) -> bool:
    """SIGTERM, wait up to `timeout` seconds for a clean exit, then SIGKILL. True if it was clean."""
    if not is_alive(pid, command_contains):
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    kill(pid)
    return False


def kill(pid: int) -> None:
    """SIGKILL and wait until the process is gone (or only a zombie is left for its parent)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def run_coroutine(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, on a private loop in its own thread.

    A thread of its own because the caller may be a pytest fixture whose thread already has the
    session's event loop installed; `asyncio.run` there would replace and close that loop.
    """
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(make_coroutine()))
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=run, name="dhr-local-async", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]
