"""``openidds demo``, ``openidds serve`` and ``openidds manage``: the web app from the
command line. Django is imported only when one of these runs."""

from __future__ import annotations

import argparse
import os
from typing import Any

SETTINGS = "openidds.web.settings"


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="migrate the web app's database and create the demo clinic and log-ins",
        description="Apply migrations, then create (idempotently) one clinic, the users "
        "demo-admin, demo-physician, demo-nurse and demo-patient (password openidds-demo) "
        "and a few patients. Without OPENIDDS_SECRET_KEY it runs in development mode.",
    )
    demo.set_defaults(handler=_demo)
    serve = subparsers.add_parser(
        "serve",
        help="serve the clinic web app with Django's development server",
        description="Django's development server (no auto-reload). For production use a "
        "WSGI/ASGI server with openidds.web.wsgi or openidds.web.asgi.",
    )
    serve.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="[ADDR:]PORT")
    serve.set_defaults(handler=_serve)
    manage = subparsers.add_parser(
        "manage",
        help="run a Django management command (migrate, createsuperuser, ...)",
        description="django-admin with the OpenIDDS settings: openidds manage migrate",
    )
    manage.add_argument("command_args", nargs=argparse.REMAINDER, help="command and options")
    manage.set_defaults(handler=_manage)


def _django(argv: list[str], *, development: bool) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    if development and not os.environ.get("OPENIDDS_SECRET_KEY"):
        os.environ.setdefault("OPENIDDS_DEBUG", "1")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["openidds", *argv])
    except SystemExit as exc:  # django-admin exits on errors
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    rc = _django(["migrate", "--no-input", "--verbosity", "0"], development=True)
    return rc or _django(["demo"], development=True)


def _serve(args: argparse.Namespace) -> int:
    return _django(["runserver", args.addrport, "--noreload"], development=True)


def _manage(args: argparse.Namespace) -> int:
    return _django(list(args.command_args) or ["help"], development=False)
