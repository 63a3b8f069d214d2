"""What every router of the JSON API shares: the error schemas and small helpers.

A router (``openidds.web.<app>.api``) declares ``response={200: ..., **ERRORS}`` so that
every error status is in the OpenAPI schema, raises Django's ``ValidationError`` (by
field), ``PermissionDenied`` or ``Http404``, and ``openidds.web.api`` turns them into JSON.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Schema

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
