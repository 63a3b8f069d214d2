"""Helpers shared by the web tests (imported as ``web_helpers``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from openidds.web.accounts.models import Clinic, Membership, Role, User

ROLES = [Role.CLINIC_ADMIN, Role.PHYSICIAN, Role.NURSE, Role.PATIENT]
PASSWORD = "correct horse battery staple"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def make_user(username: str, clinic: Clinic | None = None, role: Role | None = None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if clinic is not None and role is not None:
        Membership.objects.create(user=user, clinic=clinic, role=role)
    return user


def patient_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "Anna Becker",
        "date_of_birth": date(1958, 3, 14),
        "mrn": "M-1",
        "indication": "cancer_pain",
        "opioid_tolerance": "tolerant",
        "time_zone": "Europe/Berlin",
    }
    fields.update(overrides)
    return fields
