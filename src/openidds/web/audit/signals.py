"""Log-ins, failed log-ins and log-outs become audit events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from openidds.web.audit.middleware import request_ip
from openidds.web.audit.models import Action
from openidds.web.audit.services import record


def _ip(request: HttpRequest | None) -> str | None:
    return request_ip(request) if request is not None else None


@receiver(user_logged_in, dispatch_uid="openidds_audit_login")
def _logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record(by=user, action=Action.LOGIN, ip_address=_ip(request))


@receiver(user_logged_out, dispatch_uid="openidds_audit_logout")
def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(by=user, action=Action.LOGOUT, ip_address=_ip(request))


@receiver(user_login_failed, dispatch_uid="openidds_audit_login_failed")
def _login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # credentials has the password replaced by stars already; we keep only the name.
    username = str(credentials.get("username", ""))[:150]
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    record(
        by=user,  # None for a name that is no user
        action=Action.LOGIN_FAILED,
        actor_username=username,
        ip_address=_ip(request),
        details={"known_user": user is not None},
    )
