"""Several server processes on one port (STACKWRIGHT_WORKERS > 1).

uvicorn binds the shared socket with protocol 0, and asyncio only turns on TCP_NODELAY for sockets
whose protocol is TCP, so every kept-alive request would wait ~40 ms on delayed ACKs. The config
below hands the workers the same socket labelled as TCP, so they get TCP_NODELAY like one process does.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn


class TcpConfig(uvicorn.Config):
    """uvicorn's Config, binding a socket whose protocol is TCP (module level: workers unpickle it)."""

    def bind_socket(self) -> socket.socket:
        bound = super().bind_socket()
        tcp = socket.socket(bound.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=bound.detach())
        tcp.set_inheritable(True)
        return tcp


def run_workers(app_path: str, workers: int, **options: Any) -> None:
    from uvicorn.supervisors import Multiprocess

    config = TcpConfig(app_path, factory=True, workers=workers, **options)
    try:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    except KeyboardInterrupt:
        pass
