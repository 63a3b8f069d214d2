"""Django settings of the clinic web app, configured from the environment.

Environment:
  OPENIDDS_DEBUG=1          development mode (a dev SECRET_KEY, cookies over plain HTTP)
  OPENIDDS_SECRET_KEY       required unless OPENIDDS_DEBUG=1 or under pytest
  DATABASE_URL              postgres://user:password@host:port/name or sqlite:////abs/path;
                            default SQLite at var/openidds.sqlite3 in the repository
                            (OPENIDDS_VAR_DIR moves var/)
  OPENIDDS_ALLOWED_HOSTS    comma separated; default localhost, 127.0.0.1 and [::1]
  OPENIDDS_BEHIND_TLS_PROXY=1, OPENIDDS_SSL_REDIRECT=1, OPENIDDS_HSTS_SECONDS=N
                            for a deployment behind HTTPS
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

PACKAGE_DIR = Path(__file__).resolve().parent


def _default_var_dir() -> Path:
    # src/openidds/web/settings.py -> the repository root in a source checkout.
    root = PACKAGE_DIR.parents[2]
    if PACKAGE_DIR.parents[1].name == "src" and (root / "pyproject.toml").exists():
        return root / "var"
    return Path.cwd() / "var"


VAR_DIR = Path(os.environ.get("OPENIDDS_VAR_DIR") or _default_var_dir())


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _flag("OPENIDDS_DEBUG")
# pytest sets PYTEST_VERSION while it runs (pytest >= 8.2).
_UNDER_PYTEST = "PYTEST_VERSION" in os.environ

SECRET_KEY = os.environ.get("OPENIDDS_SECRET_KEY", "")
if not SECRET_KEY and (DEBUG or _UNDER_PYTEST):
    SECRET_KEY = "openidds-insecure-development-key-never-use-in-production"
# Otherwise the key stays empty: the system check openidds.E001 stops runserver, migrate
# and check at start, and Django refuses to sign anything with an empty key.

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("OPENIDDS_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]


def database_from_url(url: str | None, var_dir: Path = VAR_DIR) -> dict[str, Any]:
    """DATABASES["default"] for a DATABASE_URL; SQLite in var_dir when url is empty."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(var_dir / "openidds.sqlite3"),
            "OPTIONS": {
                # WAL lets readers run while one writer writes; IMMEDIATE takes the write
                # lock at BEGIN so concurrent writers wait (busy_timeout) instead of failing.
                # recursive_triggers: INSERT OR REPLACE deletes the old row, and only with it
                # on does that fire the append-only tables' delete triggers (issue 10).
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; "
                    "PRAGMA recursive_triggers=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
            },
        }
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    if parts.scheme == "sqlite":
        config = database_from_url(None, var_dir)
        # sqlite:///relative/path or sqlite:////absolute/path (as dj-database-url)
        config["NAME"] = unquote(parts.path[1:]) or ":memory:"
        return config
    raise ImproperlyConfigured(
        f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres:// or sqlite:///)"
    )


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL"))}
if (
    DATABASES["default"]["ENGINE"].endswith("sqlite3")
    and DATABASES["default"]["NAME"] != ":memory:"
):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_tasks_db",
    "openidds.web.accounts",
    "openidds.web.patients",
    "openidds.web.audit",
    "openidds.web.implants",
    "openidds.web.prescriptions",
    "openidds.web.refills",
    "openidds.web.worklists",
    "openidds.web.clinicadmin",
    "openidds.web.portal",
    "openidds.web.diary",
    "openidds.web.community",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "openidds.web.audit.middleware.RequestContextMiddleware",
    # Last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "openidds.web.urls"
WSGI_APPLICATION = "openidds.web.wsgi.application"
ASGI_APPLICATION = "openidds.web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

STATIC_URL = "/static/"
STATICFILES_DIRS = [
    PACKAGE_DIR / "static",
    # plotly.js, shipped once for the CLI's HTML plots and the chart page (no CDN).
    ("vendor/plotly", PACKAGE_DIR.parent / "static" / "vendor" / "plotly"),
]
STATIC_ROOT = VAR_DIR / "static"

# Django's built-in tasks framework with the database backend (no worker needed yet).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# -- e-mail: the console in development, SMTP otherwise -------------------------------------
# (Django 6.1's MAILERS; the SMTP backend takes its host, port and credentials in OPTIONS.)
MAILERS = {
    "default": {
        "BACKEND": os.environ.get(
            "OPENIDDS_EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend"
            if DEBUG
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("OPENIDDS_FROM_EMAIL", "OpenIDDS <no-reply@localhost>")

# -- accounts, passwords, log-in throttling ------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
# Lock the account name, from wherever the attempts come (a shared clinic PC stays usable
# for the other users while one name is locked out).
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# axes.W006 asks for an address lock too; behind one clinic NAT that would let five typos
# by different staff lock everyone out (docs/decisions/0002-web-foundation.md).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# -- sessions, cookies, CSRF, headers, CSP -------------------------------------------------
SESSION_COOKIE_AGE = 8 * 60 * 60  # one working day
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = _flag("OPENIDDS_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("OPENIDDS_HSTS_SECONDS", "0"))
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if _flag("OPENIDDS_BEHIND_TLS_PROXY") else None
)
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# -- time, language ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"axes": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
