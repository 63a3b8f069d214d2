"""Every page and every API operation is in some access-control matrix.

Each ``tests/web/test_access*.py`` file declares what its matrix covers in ``COVERED_PAGES``
(URL names) and ``COVERED_API`` ((method, path) of ``/api/v1/``); a new URL or operation
that no matrix covers fails here. Log-in and log-out are tested in test_auth.py; Django
admin's own pages (namespace ``admin``) in the clinic admin's tests.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

HERE = Path(__file__).resolve().parent
NOT_IN_A_MATRIX = {"login", "logout"}


def _page_names(patterns: list[Any]) -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in {"admin", "api-v1"}:
                continue
            names |= _page_names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(pattern.name)
    return names


def _api_operations() -> set[tuple[str, str]]:
    from openidds.web.api import api

    return {
        (method, (prefix.rstrip("/") + path) if prefix else path)
        for prefix, router in api._routers
        for path, path_view in router.path_operations.items()
        for operation in path_view.operations
        for method in operation.methods
    }


def _covered() -> tuple[set[str], set[tuple[str, str]]]:
    pages: set[str] = set()
    operations: set[tuple[str, str]] = set()
    for path in sorted(HERE.glob("test_access*.py")):
        if path.stem == "test_access_coverage":
            continue
        module = importlib.import_module(path.stem)
        pages |= set(getattr(module, "COVERED_PAGES", ()))
        operations |= set(getattr(module, "COVERED_API", ()))
    return pages, operations


def test_every_page_is_in_a_matrix():
    pages, _ = _covered()
    assert _page_names(get_resolver().url_patterns) - NOT_IN_A_MATRIX == pages


def test_every_api_operation_is_in_a_matrix():
    _, operations = _covered()
    assert _api_operations() == operations
