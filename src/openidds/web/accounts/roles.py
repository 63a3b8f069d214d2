"""Who may do what, per clinic. Every page and API operation asks these helpers."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from openidds.web.accounts.models import Clinic, Membership, Role

#: Roles that see and edit patients (prescribing, later, is the physician's alone).
CLINICAL = frozenset({Role.PHYSICIAN, Role.NURSE})
#: Roles that see the clinic's audit log and users.
ADMIN = frozenset({Role.CLINIC_ADMIN})
#: Roles a clinic admin gives and takes on the users page; patient and caregiver accounts
#: come from the portal's invitations, manufacturer support from the operators.
STAFF = frozenset({Role.CLINIC_ADMIN, Role.PHYSICIAN, Role.NURSE})


def role_in(user: Any, clinic: Clinic) -> Role | None:
    """The user's role in the clinic, or None (anonymous, inactive, not a member, or a
    deactivated member)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    role = (
        Membership.objects.filter(user_id=user.pk, clinic_id=clinic.pk, is_active=True)
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def require_role(user: Any, clinic: Clinic, allowed: Collection[Role]) -> Role:
    """The user's role in the clinic if it is one of ``allowed``; PermissionDenied if not."""
    role = role_in(user, clinic)
    if role is None or role not in allowed:
        raise PermissionDenied(f"this needs one of the roles {sorted(allowed)} in {clinic.slug}")
    return role


def clinics_with_role(user: Any, allowed: Collection[Role]) -> QuerySet[Clinic]:
    """The clinics in which the user has one of the roles."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Clinic.objects.none()
    return Clinic.objects.filter(
        memberships__user_id=user.pk,
        memberships__role__in=list(allowed),
        memberships__is_active=True,
    ).distinct()


def memberships_of(user: Any) -> QuerySet[Membership]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Membership.objects.none()
    return Membership.objects.filter(user_id=user.pk, is_active=True).select_related("clinic")
