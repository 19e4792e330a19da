"""The error a request to vreward's reward server (or a request body read for a trainer) gets."""

from __future__ import annotations


class ClientError(ValueError):
    """A request that cannot be served: ``status`` is the HTTP status to answer, the message says why."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status
