"""An ASGI app served by uvicorn on a free loopback port, for tests that call it over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def serving(app) -> Iterator[Any]:
    """``app`` served by uvicorn in a thread until the block ends; yields an ``httpx.Client`` of it (its
    ``base_url`` is the server's). Needs the serve extra (uvicorn, httpx)."""
    import httpx
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=30) as client:
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                srv.should_exit = True
                pytest.fail("the server did not become ready in 30 s")
            time.sleep(0.05)
        yield client
    srv.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive()
