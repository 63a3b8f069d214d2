"""The request's client address, for audit events written below a view."""

from __future__ import annotations

from contextvars import ContextVar

client_ip: ContextVar[str | None] = ContextVar("openidds_client_ip", default=None)
