"""Fixtures of the web tests: two clinics, a user of every role in each, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from web_helpers import MODEL_BACKEND, ROLES, make_user, patient_fields

from openidds.web.accounts.models import Clinic, Role, User
from openidds.web.patients.models import Patient


@pytest.fixture(autouse=True)
def _fast_hasher(settings: Any) -> None:
    """argon2 is the real hasher (test_auth checks it); MD5 keeps the other tests fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clinic(db: None) -> Clinic:
    return Clinic.objects.create(name="Own Clinic", slug="own")


@pytest.fixture
def other_clinic(db: None) -> Clinic:
    return Clinic.objects.create(name="Other Clinic", slug="other")


@pytest.fixture
def users(clinic: Clinic) -> dict[Role, User]:
    """One user of every role in ``clinic``."""
    return {role: make_user(f"own-{role.value}", clinic, role) for role in ROLES}


@pytest.fixture
def physician(users: dict[Role, User]) -> User:
    return users[Role.PHYSICIAN]


@pytest.fixture
def nurse(users: dict[Role, User]) -> User:
    return users[Role.NURSE]


@pytest.fixture
def admin(users: dict[Role, User]) -> User:
    return users[Role.CLINIC_ADMIN]


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    """A patient of ``clinic``, made directly (not through a service; no audit event)."""
    return Patient.objects.create(clinic=clinic, **patient_fields())


@pytest.fixture
def other_patient(other_clinic: Clinic) -> Patient:
    return Patient.objects.create(clinic=other_clinic, **patient_fields(mrn="O-1", name="Otto"))


@pytest.fixture
def client_for() -> Callable[[User | None], Client]:
    """A test client logged in as the user (or anonymous), CSRF checks on."""

    def make(user: User | None) -> Client:
        client = Client(enforce_csrf_checks=True)
        if user is not None:
            client.force_login(user, backend=MODEL_BACKEND)
        return client

    return make
