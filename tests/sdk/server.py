"""Run a real `stackwright serve` process on a free loopback port, for tests that need real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port that was free a moment ago (nothing listens on it after this returns)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stackwright_executable() -> str:
    beside_python = Path(sys.executable).parent / "stackwright"
    found = str(beside_python) if beside_python.exists() else shutil.which("stackwright")
    assert found, "the `stackwright` command is not installed (pip install -e .)"
    return found


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    returncode: int | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server was not ready within {timeout}s:\n{server.log()[-3000:]}")


def _stop(process: subprocess.Popen, timeout: float = 15) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the server did not stop within {timeout}s of SIGINT; killed it") from None


@contextmanager
def running_server(
    home: Path, api_key: str, *, env: dict[str, str] | None = None, ready_timeout: float = 30
) -> Iterator[Server]:
    """Start `stackwright serve` with its data in ``home`` and ``api_key`` as the first admin key; stop it (SIGINT).

    Yields a ``Server`` once /readyz answers 200; its ``returncode`` is set after the block. The process
    sees none of the caller's STACKWRIGHT_* variables except those in ``env``. Output goes to ``home``/../server-PORT.log.
    """
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
    child_env.update(STACKWRIGHT_HOME=str(home), STACKWRIGHT_INIT_API_KEY=api_key, STACKWRIGHT_LOG_FORMAT="json")
    child_env.update(env or {})
    log_path = home.parent / f"server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [stackwright_executable(), "serve", "--port", str(port)], env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        server.returncode = _stop(process)
