"""What every router of the JSON API shares: the error schemas and small helpers.

A router (``openidds.web.<app>.api``) declares ``response={200: ..., **ERRORS}`` so that
every error status is in the OpenAPI schema, raises Django's ``ValidationError`` (by
field), ``PermissionDenied`` or ``Http404``, and ``openidds.web.api`` turns them into JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja import Field, Schema
from ninja.parser import Parser

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import role_in


class FieldError(Schema):
    field: str = Field(description="the input field at fault, or __all__")
    message: str


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    detail: list[FieldError]


ERRORS: dict[int, Any] = {
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    422: ValidationErrorOut,
}


def clinic_for(request: HttpRequest, slug: str) -> Clinic:
    """The clinic named in the input, if the user is a member; a field error if not."""
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None or role_in(request.auth, clinic) is None:  # type: ignore[attr-defined]
        raise ValidationError({"clinic": ["no such clinic among yours"]})
    return clinic


def clinic_in_path(request: HttpRequest, slug: str) -> Clinic:
    """The clinic named in the path (``/clinics/{clinic}/...``), if the user is a member;
    Http404 if not (a clinic that is not the user's is not revealed)."""
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None or role_in(request.auth, clinic) is None:  # type: ignore[attr-defined]
        raise Http404("no such clinic among yours")
    return clinic


# -- a NUL character in any text input ------------------------------------------------------

NUL_MESSAGE = "contains a NUL character (U+0000), which cannot be stored"


def _nul_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                yield name
            else:
                yield from _nul_paths(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}.{index}" if path else str(index))


def nul_fields(data: Any) -> list[str]:
    """The fields (``a.b.0`` for nested ones) whose text or key holds a NUL character."""
    return sorted(set(_nul_paths(data, "")))


def _refuse_nul(data: Any) -> None:
    fields = nul_fields(data)
    if fields:
        raise ValidationError({name or "__all__": [NUL_MESSAGE] for name in fields})
    _refuse_out_of_range(data)


# -- an integer the database cannot hold -----------------------------------------------------

#: The databases' 64-bit signed integer (SQLite INTEGER, PostgreSQL bigint).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
RANGE_MESSAGE = f"is out of range (an integer must lie between {INT_MIN} and {INT_MAX})"


def _range_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            yield path
    elif isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit() and len(text) > 18 and not INT_MIN <= int(text) <= INT_MAX:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _range_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _range_paths(item, f"{path}.{index}" if path else str(index))


def out_of_range_fields(data: Any) -> list[str]:
    """The fields whose integer (or integer text, e.g. a path id) no database column holds."""
    return sorted(set(_range_paths(data, "")))


def _refuse_out_of_range(data: Any) -> None:
    fields = out_of_range_fields(data)
    if fields:
        raise ValidationError({name or "__all__": [RANGE_MESSAGE] for name in fields})


class RefusingParser(Parser):
    """ninja's JSON parser, which also refuses a NUL character anywhere in the query, the
    form or the JSON body with a ValidationError naming the field (422).

    PostgreSQL text cannot hold U+0000 (a 500 otherwise); the pages' forms refuse it
    already (Django's form CharField); this does the same for every router of the API.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        _refuse_nul(data)
        return data  # type: ignore[no-any-return]

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        result = super().parse_querydict(data, list_fields, request)
        _refuse_nul({k: v for k, v in result.items() if isinstance(v, str | list | dict)})
        return result
