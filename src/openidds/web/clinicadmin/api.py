"""API operations of clinic administration, mounted under ``/api/v1/`` by ``openidds.web.api``.

The clinic is in the path (``/clinics/{clinic}/...``); a clinic the caller is no member of
is 404. Members: clinic admins only. The drug library: clinic admins, and reading also
physicians and nurses. The same service functions as the pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from openidds.web.accounts.models import Clinic, Membership, Role
from openidds.web.accounts.roles import ADMIN, CLINICAL, require_role
from openidds.web.api_common import ERRORS, clinic_in_path
from openidds.web.clinicadmin import services
from openidds.web.clinicadmin.library import (
    current_selection,
    library_for_clinic,
    limit_rows,
    raw_of,
)
from openidds.web.clinicadmin.models import ClinicDrugLibrary

router = Router(tags=["clinicadmin"])

StaffRole = Literal["clinic_admin", "physician", "nurse"]


class MemberOut(Schema):
    id: int = Field(description="id of the membership")
    username: str
    display_name: str
    role: Role
    is_active: bool = Field(description="false: deactivated (no right in the clinic)")
    account_active: bool = Field(description="false: the account is disabled by operators")
    last_login: datetime | None
    locked: bool = Field(description="locked out by too many failed log-ins")
    read_only: bool = Field(description="patients and caregivers: managed by the portal")


def _member_out(row: services.MemberRow) -> MemberOut:
    m = row.membership
    return MemberOut(
        id=m.pk,
        username=m.user.username,
        display_name=m.user.display_name,
        role=Role(m.role),
        is_active=m.is_active,
        account_active=m.user.is_active,
        last_login=m.user.last_login,
        locked=row.locked,
        read_only=row.read_only,
    )


class MemberIn(Schema):
    username: str = Field(max_length=150)
    role: StaffRole
    new_account: bool = Field(
        description="true: create the account (its initial password is in the answer, "
        "once); false: add an existing user name"
    )
    display_name: str = Field("", max_length=200)
    email: str = Field("", max_length=254)


class AddedOut(Schema):
    member: MemberOut
    initial_password: str | None = Field(
        description="the new account's initial password: shown only in this answer"
    )


class MemberUpdate(Schema):
    """Only the fields sent are changed."""

    role: StaffRole | None = None
    is_active: bool | None = Field(None, description="false deactivates, true reactivates")


@router.get(
    "/clinics/{clinic}/members",
    response={200: list[MemberOut], **ERRORS},
    summary="The clinic's members with role, status and last log-in (clinic admin; audited)",
)
def list_members(request: HttpRequest, clinic: str) -> list[MemberOut]:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN)
    return [_member_out(r) for r in services.list_members(by=user, clinic=clinic_obj)]


def _row(membership: Membership) -> services.MemberRow:
    locked = membership.user.username in services.locked_usernames([membership.user.username])
    return services.MemberRow(membership, locked, Role(membership.role) not in services.ASSIGNABLE)


@router.post(
    "/clinics/{clinic}/members",
    response={201: AddedOut, **ERRORS},
    summary="Add a member: a new account or an existing user name (clinic admin)",
)
def add_member(request: HttpRequest, clinic: str, payload: MemberIn) -> Status[AddedOut]:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN)
    added = services.add_member(by=user, clinic=clinic_obj, **payload.model_dump())
    out = AddedOut(
        member=_member_out(_row(added.membership)), initial_password=added.initial_password
    )
    return Status(201, out)


@router.patch(
    "/clinics/{clinic}/members/{member_id}",
    response={200: MemberOut, **ERRORS},
    summary="Change a member's role, deactivate or reactivate them (clinic admin)",
)
def update_member(
    request: HttpRequest, clinic: str, member_id: int, payload: MemberUpdate
) -> MemberOut:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN)
    membership = services.find_membership(by=user, clinic=clinic_obj, membership_id=member_id)
    data = payload.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in data.items() if v is None)
    if nulls:
        raise ValidationError({k: ["may not be null"] for k in nulls})
    # All or nothing: the role change and the (de)activation in one transaction.
    with transaction.atomic():
        if "role" in data:
            membership = services.change_role(by=user, membership=membership, role=data["role"])
        if "is_active" in data:
            membership = services.set_active(
                by=user, membership=membership, active=data["is_active"]
            )
    return _member_out(
        _row(services.find_membership(by=user, clinic=clinic_obj, membership_id=member_id))
    )


@router.post(
    "/clinics/{clinic}/members/{member_id}/unlock",
    response={200: MemberOut, **ERRORS},
    summary="Lift the log-in lock-out of a member's user name (clinic admin)",
)
def unlock_member(request: HttpRequest, clinic: str, member_id: int) -> MemberOut:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN)
    membership = services.find_membership(by=user, clinic=clinic_obj, membership_id=member_id)
    services.unlock_account(by=user, membership=membership)
    return _member_out(_row(membership))


# -- the drug library ---------------------------------------------------------------------


class LimitOut(Schema):
    drug: str
    drug_name: str
    parameter: str
    value: str = Field(description="in mg units (and mcg for drugs read in mcg)")
    kind: str = Field(description="label, guideline or clinic-policy")
    basis: str
    source: str
    confirmed: bool | None = Field(description="false: UNCONFIRMED, verify before use")


class UploadOut(Schema):
    id: int
    library: str = Field(description="the file's [library] id")
    version: str
    sha256: str
    note: str
    uploaded_by: str
    uploaded_at: datetime


def _upload_out(upload: ClinicDrugLibrary) -> UploadOut:
    return UploadOut(
        id=upload.pk,
        library=upload.library_name,
        version=upload.library_version,
        sha256=upload.sha256,
        note=upload.note,
        uploaded_by=upload.uploaded_by.get_username(),
        uploaded_at=upload.uploaded_at,
    )


class LibraryOut(Schema):
    library: str = Field(description="[library] id of the library in use")
    version: str
    builtin: bool = Field(description="true: the library shipped with OpenIDDS")
    upload: int | None = Field(description="id of the clinic's upload in use, if any")
    selected_by: str | None
    selected_at: datetime | None
    reason: str | None
    limits: list[LimitOut]
    uploads: list[UploadOut] = Field(description="the clinic's uploaded copies, newest first")


class LibrarySelect(Schema):
    upload: int | None = Field(
        description="id of one of the clinic's uploads; null: the library shipped with OpenIDDS"
    )
    reason: str = Field(max_length=500)


class LibraryUpload(Schema):
    toml: str = Field(description="the library file's text (TOML)", max_length=512 * 1024)
    note: str = Field(max_length=500, description="what changed and who approved it")


def _library_out(clinic_obj: Clinic) -> LibraryOut:
    selection = current_selection(clinic_obj)
    library = library_for_clinic(clinic_obj)
    upload = selection.library if selection is not None else None
    uploads, _ = services.library_history(clinic_obj)
    return LibraryOut(
        library=library.id,
        version=library.version,
        builtin=upload is None,
        upload=upload.pk if upload else None,
        selected_by=selection.selected_by.get_username() if selection else None,
        selected_at=selection.selected_at if selection else None,
        reason=selection.reason if selection else None,
        limits=[LimitOut(**r.as_dict()) for r in limit_rows(library, raw_of(library, upload))],
        uploads=[_upload_out(u) for u in uploads],
    )


@router.get(
    "/clinics/{clinic}/drug-library",
    response={200: LibraryOut, **ERRORS},
    summary="The drug library the clinic's dose checks use, with every limit and its source "
    "(clinic admin, physician, nurse)",
)
def get_library(request: HttpRequest, clinic: str) -> LibraryOut:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN | CLINICAL)
    return _library_out(clinic_obj)


@router.put(
    "/clinics/{clinic}/drug-library",
    response={200: LibraryOut, **ERRORS},
    summary="Choose the library the clinic's dose checks use (clinic admin; audited)",
)
def set_library(request: HttpRequest, clinic: str, payload: LibrarySelect) -> LibraryOut:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN)
    upload = None
    if payload.upload is not None:
        upload = ClinicDrugLibrary.objects.filter(pk=payload.upload, clinic=clinic_obj).first()
        if upload is None:
            raise ValidationError({"upload": ["no such library of this clinic"]})
    services.select_library(by=user, clinic=clinic_obj, library=upload, reason=payload.reason)
    return _library_out(clinic_obj)


@router.post(
    "/clinics/{clinic}/drug-libraries",
    response={201: UploadOut, **ERRORS},
    summary="Upload a clinic copy of the drug library (clinic admin; validated by the dose "
    "checks' loader; not used until chosen)",
)
def upload_library(request: HttpRequest, clinic: str, payload: LibraryUpload) -> Status[UploadOut]:
    user = request.auth  # type: ignore[attr-defined]
    clinic_obj = clinic_in_path(request, clinic)
    require_role(user, clinic_obj, ADMIN)
    upload = services.upload_library(
        by=user, clinic=clinic_obj, toml=payload.toml, note=payload.note
    )
    return Status(201, _upload_out(upload))


__all__ = ["router"]
