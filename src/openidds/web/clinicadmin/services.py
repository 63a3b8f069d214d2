"""The clinic admin's writes: members and roles, locked accounts, the drug library.

Each function takes the acting user as keyword-only ``by``, checks that they administer
the clinic (PermissionDenied), validates (ValidationError naming the field; nothing is
written) and writes the change with its audit event in one transaction.

Who administers a clinic: its clinic admins, and operators (``is_staff`` with the Django
permission to change memberships) acting through Django admin (``clinicadmin.admin``).

Safety rules (kept under a row lock on the clinic, so two admins acting at once cannot
both pass them): a clinic always keeps at least one active clinic admin, and no clinic
admin removes their own admin role (demotion or deactivation of their own membership).
Users are never deleted: memberships are deactivated, so the audit history stays whole.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.accounts.roles import ADMIN, STAFF, role_in
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.clinicadmin.library import (
    builtin_library,
    current_selection,
    differences,
    library_for_clinic,
    parse_upload,
    stored_library,
)
from openidds.web.clinicadmin.models import ClinicDrugLibrary, DrugLibrarySelection

#: Roles a clinic admin may give. Operators may also give manufacturer support.
ASSIGNABLE = STAFF
OPERATOR_ASSIGNABLE = STAFF | {Role.SUPPORT}
#: Roles whose memberships come from elsewhere (the portal's invitations) and are only
#: shown here.
READ_ONLY_ROLES = frozenset({Role.PATIENT, Role.CAREGIVER})
#: Letters of generated initial passwords: no 0/O, 1/l/I look-alikes.
_PASSWORD_LETTERS = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def is_operator(user: Any) -> bool:
    """An operator of the installation (Django admin), not a clinic role."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.is_staff
        and user.has_perm("accounts.change_membership")
    )


def _administers(by: Any, clinic: Clinic) -> bool:
    """True for a clinic admin of the clinic; for an operator False (but allowed);
    PermissionDenied for everyone else."""
    if role_in(by, clinic) in ADMIN:
        return True
    if is_operator(by):
        return False
    raise PermissionDenied(f"this needs the role clinic_admin in {clinic.slug}")


def _lock_clinic(clinic: Clinic) -> None:
    """Serialise the writes on a clinic's memberships (the last-admin rule reads them)."""
    Clinic.objects.select_for_update().filter(pk=clinic.pk).first()


def _fresh(membership: Membership) -> Membership:
    return Membership.objects.select_related("user", "clinic").get(pk=membership.pk)


def _active_admins(clinic: Clinic) -> int:
    return Membership.objects.filter(
        clinic=clinic, role=Role.CLINIC_ADMIN, is_active=True, user__is_active=True
    ).count()


def _removes_admin(by: Any, membership: Membership, *, as_member: bool) -> str | None:
    """Why taking the admin role away from ``membership`` is refused, or None."""
    if membership.role != Role.CLINIC_ADMIN or not membership.is_active:
        return None
    if as_member and membership.user_id == by.pk:
        return "you cannot remove your own clinic admin role; ask another clinic admin"
    if _active_admins(membership.clinic) <= 1:
        return "the clinic's last clinic admin: make another member clinic admin first"
    return None


def _not_here(membership: Membership) -> str:
    why = " (the patient portal manages it)" if Role(membership.role) in READ_ONLY_ROLES else ""
    return f"a {membership.get_role_display()} membership is not changed here{why}"


# -- members ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    locked: bool
    read_only: bool


def locked_usernames(usernames: list[str]) -> set[str]:
    """The user names django-axes locks out now (failures at the limit within the
    cool-off time)."""
    if not usernames:
        return set()
    limit = settings.AXES_FAILURE_LIMIT
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return set(
        AccessAttempt.objects.filter(
            username__in=usernames, failures_since_start__gte=limit, attempt_time__gte=since
        ).values_list("username", flat=True)
    )


@transaction.atomic
def list_members(*, by: Any, clinic: Clinic) -> list[MemberRow]:
    """The clinic's members (deactivated ones too), admins first; the reading is audited."""
    as_member = _administers(by, clinic)
    assignable = ASSIGNABLE if as_member else OPERATOR_ASSIGNABLE
    memberships = list(
        Membership.objects.filter(clinic=clinic)
        .select_related("user")
        .order_by("-is_active", "role", "user__username")
    )
    locked = locked_usernames([m.user.username for m in memberships])
    record(by=by, action=Action.MEMBERS_LISTED, clinic=clinic, details={"count": len(memberships)})
    order = {Role.CLINIC_ADMIN: 0, Role.PHYSICIAN: 1, Role.NURSE: 2}
    memberships.sort(key=lambda m: (not m.is_active, order.get(Role(m.role), 3), m.user.username))
    return [
        MemberRow(m, m.user.username in locked, Role(m.role) not in assignable) for m in memberships
    ]


def find_membership(*, by: Any, clinic: Clinic, membership_id: int) -> Membership:
    """A membership of the clinic; Http404 for an id of another clinic or none."""
    _administers(by, clinic)
    membership = (
        Membership.objects.filter(pk=membership_id, clinic=clinic).select_related("user").first()
    )
    if membership is None:
        from django.http import Http404

        raise Http404("no such member of this clinic")
    return membership


def generate_password() -> str:
    """An initial password: 4 groups of 4 unambiguous letters and digits (about 91 bits)."""
    raw = "".join(secrets.choice(_PASSWORD_LETTERS) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class Added:
    membership: Membership
    #: the generated password of a new account, shown once and stored only hashed
    initial_password: str | None


def _role_errors(role: Any, allowed: frozenset[Role]) -> list[str]:
    if role not in Role.values:
        return [f"one of {', '.join(sorted(allowed))}"]
    if Role(role) not in allowed:
        if Role(role) in READ_ONLY_ROLES:
            return [
                f"{Role(role).label} accounts come from the patient portal's invitations, "
                "not from here"
            ]
        return [f"one of {', '.join(sorted(allowed))}"]
    return []


@transaction.atomic
def add_member(
    *,
    by: Any,
    clinic: Clinic,
    username: str,
    role: str,
    new_account: bool,
    display_name: str = "",
    email: str = "",
) -> Added:
    """Make a user a member of the clinic with a role: a new account (its initial
    password is generated and returned once) or an existing user name."""
    as_member = _administers(by, clinic)
    _lock_clinic(clinic)
    allowed = ASSIGNABLE if as_member else OPERATOR_ASSIGNABLE
    errors: dict[str, list[str]] = {}
    username = (username or "").strip()
    display_name = (display_name or "").strip()
    email = (email or "").strip()
    if found := _role_errors(role, allowed):
        errors["role"] = found
    for name, text in (("username", username), ("display_name", display_name), ("email", email)):
        if "\x00" in text:
            errors[name] = ["contains a NUL character"]
    user: User | None = None
    if "username" in errors:
        pass
    elif not username:
        errors["username"] = ["this field is required"]
    elif new_account:
        try:
            User.username_validator(username)
        except ValidationError as exc:
            errors["username"] = list(exc.messages)
        if len(username) > 150:
            errors.setdefault("username", []).append("at most 150 characters")
        if "username" not in errors and User.objects.filter(username__iexact=username).exists():
            errors["username"] = [
                "a user with this name exists already: add the existing user instead"
            ]
        if len(display_name) > 200:
            errors["display_name"] = ["at most 200 characters"]
        if email and "email" not in errors:
            from django.core.validators import validate_email

            try:
                validate_email(email)
            except ValidationError as exc:
                errors["email"] = list(exc.messages)
    else:
        user = User.objects.filter(username=username).first()
        if user is None:
            errors["username"] = ["no user has this name (check the spelling, or add a new user)"]
        elif not user.is_active:
            errors["username"] = ["this account is disabled by the operators"]
        else:
            existing = Membership.objects.filter(user=user, clinic=clinic).first()
            if existing is not None:
                state = "a member" if existing.is_active else "a deactivated member"
                errors["username"] = [
                    f"already {state} of this clinic ({existing.get_role_display()})"
                    + ("" if existing.is_active else ": reactivate them instead")
                ]
    if errors:
        raise ValidationError(errors)
    password: str | None = None
    if user is None:
        password = generate_password()
        user = User(username=username, display_name=display_name, email=email)
        validate_password(password, user)
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:  # the same name made at the same moment
            raise ValidationError({"username": ["a user with this name exists already"]}) from exc
    membership = Membership.objects.create(user=user, clinic=clinic, role=role)
    record(
        by=by,
        action=Action.MEMBER_ADDED,
        clinic=clinic,
        obj=membership,
        details={
            "username": user.username,
            "role": role,
            "new_account": password is not None,
            "via": "clinic admin" if as_member else "operator",
        },
    )
    return Added(membership, password)


@transaction.atomic
def change_role(*, by: Any, membership: Membership, role: str) -> Membership:
    """Give an active staff member another staff role."""
    clinic = membership.clinic
    as_member = _administers(by, clinic)
    _lock_clinic(clinic)
    membership = _fresh(membership)
    allowed = ASSIGNABLE if as_member else OPERATOR_ASSIGNABLE
    errors: dict[str, list[str]] = {}
    if Role(membership.role) not in allowed:
        errors["role"] = [_not_here(membership)]
    elif found := _role_errors(role, allowed):
        errors["role"] = found
    elif not membership.is_active:
        errors["role"] = ["the membership is deactivated: reactivate it first"]
    elif role != membership.role and role != Role.CLINIC_ADMIN:
        why = _removes_admin(by, membership, as_member=as_member)
        if why:
            errors["role"] = [why]
    if errors:
        raise ValidationError(errors)
    old = membership.role
    if old == role:
        return membership
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    record(
        by=by,
        action=Action.MEMBER_ROLE_CHANGED,
        clinic=clinic,
        obj=membership,
        details={"username": membership.user.username, "old": old, "new": role},
    )
    return membership


@transaction.atomic
def set_active(*, by: Any, membership: Membership, active: bool) -> Membership:
    """Deactivate (``active=False``) or reactivate a membership; never deletes anything."""
    clinic = membership.clinic
    as_member = _administers(by, clinic)
    _lock_clinic(clinic)
    membership = _fresh(membership)
    allowed = ASSIGNABLE if as_member else OPERATOR_ASSIGNABLE
    errors: dict[str, list[str]] = {}
    if Role(membership.role) not in allowed:
        errors["is_active"] = [_not_here(membership)]
    elif not active:
        if as_member and membership.user_id == by.pk:
            errors["is_active"] = ["you cannot deactivate yourself; ask another clinic admin"]
        elif why := _removes_admin(by, membership, as_member=as_member):
            errors["is_active"] = [why]
    elif active and not membership.user.is_active:
        errors["is_active"] = ["this account is disabled by the operators"]
    if errors:
        raise ValidationError(errors)
    if membership.is_active == active:
        return membership
    Membership.objects.filter(pk=membership.pk).update(is_active=active)
    membership.is_active = active
    record(
        by=by,
        action=Action.MEMBER_REACTIVATED if active else Action.MEMBER_DEACTIVATED,
        clinic=clinic,
        obj=membership,
        details={"username": membership.user.username, "role": membership.role},
    )
    return membership


@transaction.atomic
def unlock_account(*, by: Any, membership: Membership) -> int:
    """Lift django-axes' lock-out of a member's user name; returns the attempts cleared."""
    clinic = membership.clinic
    _administers(by, clinic)
    membership = _fresh(membership)
    username = membership.user.username
    was_locked = username in locked_usernames([username])
    cleared = int(axes_reset(username=username) or 0)
    record(
        by=by,
        action=Action.ACCOUNT_UNLOCKED,
        clinic=clinic,
        obj=membership,
        details={"username": username, "was_locked": was_locked, "attempts_cleared": cleared},
    )
    return cleared


# -- the drug library ---------------------------------------------------------------------


@transaction.atomic
def upload_library(*, by: Any, clinic: Clinic, toml: str, note: str) -> ClinicDrugLibrary:
    """Store a clinic copy of the drug library after the dose checks' loader accepted it.
    It is not used until it is chosen (:func:`select_library`)."""
    _administers(by, clinic)
    _lock_clinic(clinic)
    errors: dict[str, list[str]] = {}
    note = (note or "").strip()
    if not note:
        errors["note"] = ["say what changed and who approved it"]
    elif len(note) > 500:
        errors["note"] = ["at most 500 characters"]
    elif "\x00" in note:
        errors["note"] = ["contains a NUL character"]
    library = None
    try:
        library, _ = parse_upload(toml or "")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if library is not None:
        builtin = builtin_library()
        if library.id == builtin.id:
            errors["toml"] = [
                f"a clinic copy needs its own [library] id, not {builtin.id!r} "
                "(docs/drug-library.md: Using a clinic's own library)"
            ]
        elif len(library.id) > 100 or len(library.version) > 40:
            errors["toml"] = ["[library] id at most 100 and version at most 40 characters"]
        elif ClinicDrugLibrary.objects.filter(
            clinic=clinic, library_name=library.id, library_version=library.version
        ).exists():
            errors["toml"] = [
                f"{library.id} version {library.version} is uploaded already: bump "
                "[library] version for a changed file"
            ]
    if errors:
        raise ValidationError(errors)
    assert library is not None
    in_use = library_for_clinic(clinic)
    changes = differences(in_use, library)
    upload = ClinicDrugLibrary.objects.create(
        clinic=clinic,
        library_name=library.id,
        library_version=library.version,
        toml=toml,
        sha256=hashlib.sha256(toml.encode("utf-8")).hexdigest(),
        note=note,
        uploaded_by=by,
    )
    record(
        by=by,
        action=Action.DRUG_LIBRARY_UPLOADED,
        clinic=clinic,
        obj=upload,
        details={
            "library": library.id,
            "version": library.version,
            "sha256": upload.sha256,
            "drugs": sorted(library.drugs),
            "note": note,
            "compared_with": f"{in_use.id} {in_use.version}",
            "changes": [
                {"drug": c.drug, "parameter": c.parameter, "old": c.old, "new": c.new}
                for c in changes
            ],
        },
    )
    return upload


@transaction.atomic
def select_library(
    *, by: Any, clinic: Clinic, library: ClinicDrugLibrary | None, reason: str
) -> DrugLibrarySelection:
    """From now on the clinic's dose checks use ``library`` (None: the built-in one)."""
    _administers(by, clinic)
    _lock_clinic(clinic)
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = ["say why (e.g. the committee's decision and its date)"]
    elif len(reason) > 500:
        errors["reason"] = ["at most 500 characters"]
    elif "\x00" in reason:
        errors["reason"] = ["contains a NUL character"]
    if library is not None and library.clinic_id != clinic.pk:
        errors["library"] = ["no such library of this clinic"]
    current = current_selection(clinic)
    current_upload = current.library_id if current is not None else None
    if "library" not in errors and current_upload == (library.pk if library else None):
        errors["library"] = ["this library is in use already"]
    chosen = None
    if "library" not in errors:
        try:
            chosen = builtin_library() if library is None else stored_library(library)
        except Exception as exc:  # a stored file a newer loader refuses
            errors["library"] = [f"the dose checks cannot load it any more: {exc}"]
    if errors:
        raise ValidationError(errors)
    assert chosen is not None
    before = library_for_clinic(clinic)
    selection = DrugLibrarySelection.objects.create(
        clinic=clinic,
        library=library,
        library_name=chosen.id,
        library_version=chosen.version,
        reason=reason,
        selected_by=by,
    )
    record(
        by=by,
        action=Action.DRUG_LIBRARY_SELECTED,
        clinic=clinic,
        obj=selection,
        details={
            "old": {"library": before.id, "version": before.version},
            "new": {
                "library": chosen.id,
                "version": chosen.version,
                "upload": library.pk if library else None,
            },
            "reason": reason,
            "changes": [
                {"drug": c.drug, "parameter": c.parameter, "old": c.old, "new": c.new}
                for c in differences(before, chosen)
            ],
        },
    )
    return selection


def library_history(clinic: Clinic) -> tuple[list[ClinicDrugLibrary], list[DrugLibrarySelection]]:
    uploads = list(ClinicDrugLibrary.objects.filter(clinic=clinic).select_related("uploaded_by"))
    selections = list(
        DrugLibrarySelection.objects.filter(clinic=clinic).select_related("selected_by", "library")
    )
    return uploads, selections
