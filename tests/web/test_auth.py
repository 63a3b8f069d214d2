"""Log-in at /accounts/login/, its audit events, argon2 and the django-axes lock-out."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.hashers import get_hasher
from django.test import Client
from web_helpers import PASSWORD, make_user

from openidds.web.accounts.models import Role, User
from openidds.web.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str, **extra: str):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def test_login_page_has_the_conventional_fields():
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<html lang="en">' in html
    assert '<label for="id_username">' in html


def test_login_is_audited_with_the_address(users):
    nurse = users[Role.NURSE]
    response = _login(Client(), nurse.username, PASSWORD, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302
    # A nurse of one clinic lands on its worklist.
    assert response["Location"] == "/clinics/own/worklist/"
    event = AuditEvent.objects.get(action=Action.LOGIN)
    assert event.actor == nurse
    assert event.ip_address == "10.1.2.3"


def test_failed_login_is_audited_without_the_password(users):
    nurse = users[Role.NURSE]
    response = _login(Client(), nurse.username, "wrong password", REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.actor == nurse
    assert event.actor_username == nurse.username
    assert event.ip_address == "10.9.9.9"
    assert event.details == {"known_user": True}
    assert "wrong password" not in str(event.details)


def test_failed_login_of_an_unknown_name_is_audited(db):
    _login(Client(), "nobody", "whatever")
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.actor is None
    assert event.actor_username == "nobody"
    assert event.details == {"known_user": False}


def test_logout_is_a_post_and_is_audited(client_for, users):
    client = client_for(users[Role.PHYSICIAN])
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=Action.LOGOUT).count() == 1
    assert client.get("/").status_code == 302


def test_axes_locks_the_account_after_five_failures(users):
    nurse = users[Role.NURSE]
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, nurse.username, "wrong")
    # Now even the right password is refused, from any address.
    response = _login(Client(), nurse.username, PASSWORD, REMOTE_ADDR="10.0.0.77")
    assert response.status_code == 429
    assert "locked" in response.content.decode().lower()
    assert not AuditEvent.objects.filter(action=Action.LOGIN).exists()
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED).count() >= 5
    # Another user is not locked.
    assert _login(Client(), users[Role.PHYSICIAN].username, PASSWORD).status_code == 302


def test_axes_settings():
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def test_passwords_are_hashed_with_argon2(db, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    user = User.objects.create_user(username="argon", password=PASSWORD)
    assert user.password.startswith("argon2$")
    assert get_hasher().algorithm == "argon2"


def test_the_real_settings_put_argon2_first():
    from openidds.web import settings as web_settings

    assert web_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_session_expires():
    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True


def test_each_role_lands_where_it_works(clinic, users):
    """Nurses and physicians of one clinic: the worklist; patients and caregivers: the
    portal; a clinic admin (or anyone in several clinics): the home page; ?next= wins."""
    from openidds.web.accounts.models import Clinic, Membership

    expected = {
        Role.NURSE: "/clinics/own/worklist/",
        Role.PHYSICIAN: "/clinics/own/worklist/",
        Role.PATIENT: "/portal/",
        Role.CAREGIVER: "/portal/",
        Role.CLINIC_ADMIN: "/",
    }
    for role, location in expected.items():
        user = users.get(role) or make_user(f"own-{role.value}", clinic, role)
        response = _login(Client(), user.username, PASSWORD)
        assert response["Location"] == location, role
    nurse = users[Role.NURSE]
    second = Clinic.objects.create(name="Second", slug="second")
    Membership.objects.create(user=nurse, clinic=second, role=Role.NURSE)
    assert _login(Client(), nurse.username, PASSWORD)["Location"] == "/"
    client = Client()
    response = client.post(
        "/accounts/login/?next=/clinics/own/patients/",
        {"username": nurse.username, "password": PASSWORD},
    )
    assert response["Location"] == "/clinics/own/patients/"
