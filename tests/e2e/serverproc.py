"""Helpers for tests that run the real `stackwright` executable: its path, a clean env, free ports,
and a server process that can be waited for and stopped with Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

START_TIMEOUT_S = 60.0  # generous: only how long we are willing to wait, never asserted as a speed
STOP_TIMEOUT_S = 20.0


def executable() -> str:
    """The `stackwright` console script of the venv running the tests."""
    candidate = Path(sys.executable).parent / "stackwright"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("stackwright")
    assert found, "the stackwright console script is not installed"
    return found


def clean_env(**settings: str | os.PathLike) -> dict[str, str]:
    """The test process's env without any STACKWRIGHT_* value, plus ``settings`` (keys without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKWRIGHT_")}
    env.update({f"STACKWRIGHT_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def run(args: list[str], env: dict[str, str], cwd: str | os.PathLike | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `stackwright ARGS` to completion, capturing text output."""
    return subprocess.run(
        [executable(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def free_ports(count: int = 1) -> list[int]:
    """Ports free on 127.0.0.1 right now (all held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_ports(1)[0]


class ServerProcess:
    """`stackwright serve` as a child process with its output in files under ``workdir``."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int, name: str = "server", args: list[str] | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = {**env, "STACKWRIGHT_PORT": str(port)}
        self.port = port
        self.name = name
        self.args = args or []
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self._out = self.workdir / f"{name}.stdout"
        self._err = self.workdir / f"{name}.stderr"

    def start(self) -> ServerProcess:
        """Launch the server; a no-op while it runs (so `with server.start():` starts one, not two)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.proc = subprocess.Popen(
                [executable(), "serve", *self.args],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        return self

    @property
    def stdout(self) -> str:
        return self._out.read_text(errors="replace") if self._out.exists() else ""

    @property
    def stderr(self) -> str:
        return self._err.read_text(errors="replace") if self._err.exists() else ""

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> ServerProcess:
        """Poll /readyz until it answers 200; fail with the server's output if it exits or never gets ready."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise AssertionError(f"{self.name} exited with {code} before it was ready:\n{self.stderr}")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=2)
                if response.status_code == 200:
                    return self
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {timeout}s (last: {last}):\n{self.stderr}")

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def interrupt(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Send SIGINT (what Ctrl-C does) and return the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
