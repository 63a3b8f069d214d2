from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from openidds.web.audit.context import client_ip


def request_ip(request: HttpRequest) -> str | None:
    """The client address as the server saw it (REMOTE_ADDR). Behind a proxy, configure
    the proxy to set REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips); we do not trust
    X-Forwarded-For ourselves."""
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Makes the client address available to audit events written during the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = client_ip.set(request_ip(request))
        try:
            return self.get_response(request)
        finally:
            client_ip.reset(token)
