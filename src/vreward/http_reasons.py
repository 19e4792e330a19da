"""Error messages in the HTTP status line, for clients that log only the status line (OpenRLHF).

OpenRLHF's reward client (``openrlhf.utils.agent.SingleTurnAgentExecutor``, aiohttp) calls
``raise_for_status()`` and logs the exception, which holds the status code and the status line's reason phrase,
never the body: a refused request reads "422, message='Unprocessable Entity'". ASGI has no field for the reason
phrase, so :func:`install` makes uvicorn's status-line tables (``h11`` and ``httptools`` implementations) answer
the phrase that the app set with :func:`set_reason` for the response being sent, and the standard phrase
otherwise. The phrase is per asyncio context (a ``ContextVar``), so concurrent requests never see each other's.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

_REASON: ContextVar[bytes | None] = ContextVar("vreward_http_reason", default=None)
_UNSAFE = re.compile(rb"[^\x20-\x7e]+")
MAX_REASON_BYTES = 400


class _ReasonTable(dict):
    """uvicorn's table of status phrases (h11) or status lines (httptools), answering the app's phrase."""

    def __init__(self, table: dict, line: bool):
        super().__init__(table)
        self.line = line

    def __getitem__(self, status: int) -> bytes:
        reason = _REASON.get()
        if reason is None:
            return super().__getitem__(status)
        return b"HTTP/1.1 %d %s\r\n" % (status, reason) if self.line else reason


def set_reason(message: str | None) -> None:
    """Use ``message`` (made printable ASCII, at most :data:`MAX_REASON_BYTES`) as the reason phrase of the
    response this context sends next; None restores the standard phrase."""
    if message is None:
        _REASON.set(None)
        return
    text = _UNSAFE.sub(b" ", message.encode("ascii", "replace")).strip()[:MAX_REASON_BYTES]
    _REASON.set(text or None)


def install() -> None:
    """Make uvicorn's HTTP implementations write the reason phrases set with :func:`set_reason` (idempotent)."""
    from uvicorn.protocols.http import h11_impl

    if not isinstance(h11_impl.STATUS_PHRASES, _ReasonTable):
        h11_impl.STATUS_PHRASES = _ReasonTable(h11_impl.STATUS_PHRASES, line=False)
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # httptools is not installed: uvicorn uses h11
        return
    if not isinstance(httptools_impl.STATUS_LINE, _ReasonTable):
        httptools_impl.STATUS_LINE = _ReasonTable(httptools_impl.STATUS_LINE, line=True)
