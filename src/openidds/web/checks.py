"""System checks of the OpenIDDS configuration (run by runserver, migrate, check)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.security, deploy=False)
def secret_key_set(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        key = settings.SECRET_KEY  # Django raises on an empty key
    except ImproperlyConfigured:
        key = ""
    if not key:
        return [
            checks.Error(
                "OPENIDDS_SECRET_KEY is not set",
                hint="Set OPENIDDS_SECRET_KEY to a long random string, or OPENIDDS_DEBUG=1 "
                "for development (which uses a fixed, public key).",
                id="openidds.E001",
            )
        ]
    return []
