"""Serve a fake on a real loopback port: uvicorn in a thread, on a socket bound to port 0."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from botkit.testing._fake import FakeRocketChat

__all__ = ["RunningServer", "serve"]


@dataclass(frozen=True)
class RunningServer:
    """A fake listening on loopback: `url` is "http://127.0.0.1:PORT"."""

    fake: FakeRocketChat
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class _NoDelayH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with TCP_NODELAY on every connection.

    uvicorn leaves Nagle's algorithm on for sockets it is handed (`sockets=[...]`), and it
    writes a response's headers and body separately: the body then waits for the client's
    delayed ACK, 40 ms on Linux, on every keep-alive request.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


class _Server(uvicorn.Server):
    # The server runs in a thread: signals belong to the main thread (and to the tests).
    def install_signal_handlers(self) -> None:
        return None


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextmanager
def serve(
    fake: FakeRocketChat | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
) -> Iterator[RunningServer]:
    """Run `fake` (a new one if None) on loopback until the block ends.

    Sets the fake's `Site_Url` to the server URL so avatar URLs point at it.
    """
    fake = fake or FakeRocketChat()
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.asgi_app,
        lifespan="off",
        http=_NoDelayH11Protocol,
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,  # the fake sends its own Date, from its clock
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="botkit-fake", daemon=True
    )
    running = RunningServer(fake=fake, host=host, port=bound_port)
    fake.update_settings({"Site_Url": running.url})
    thread.start()
    try:
        deadline = threading.Event()
        waited = 0.0
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the fake server failed to start")
            if waited >= startup_timeout:
                raise TimeoutError("the fake server did not start in time")
            deadline.wait(0.01)
            waited += 0.01
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
