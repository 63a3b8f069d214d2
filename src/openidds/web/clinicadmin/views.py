"""The clinic admin's pages: users and roles, the drug library. Thin: parse, call a
service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import ADMIN, CLINICAL, require_role, role_in
from openidds.web.clinicadmin import services
from openidds.web.clinicadmin.forms import (
    AddMemberForm,
    MemberActionForm,
    SelectLibraryForm,
    UploadLibraryForm,
)
from openidds.web.clinicadmin.library import (
    builtin_library,
    current_selection,
    differences,
    library_for_clinic,
    limit_rows,
    raw_of,
    stored_library,
)
from openidds.web.clinicadmin.models import ClinicDrugLibrary

BUILTIN = "builtin"


def _member_clinic(request: HttpRequest, slug: str) -> tuple[Clinic, Role]:
    """The clinic and the user's role in it; 404 for clinics the user is no member of."""
    clinic = get_object_or_404(Clinic, slug=slug)
    role = role_in(request.user, clinic)
    if role is None:
        raise Http404("no such clinic")
    return clinic, role


def _add_errors(form: Any, exc: ValidationError) -> None:
    for field, found in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, found)


# -- users and roles ----------------------------------------------------------------------


def _users_page(
    request: HttpRequest,
    clinic: Clinic,
    role: Role,
    *,
    form: AddMemberForm | None = None,
    added: services.Added | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    rows = services.list_members(by=request.user, clinic=clinic)
    response = render(
        request,
        "clinicadmin/users.html",
        {
            "clinic": clinic,
            "role": role,
            "rows": rows,
            "form": form or AddMemberForm(),
            "added": added,
            "errors": errors or [],
            "staff_roles": AddMemberForm.base_fields["role"].choices,  # type: ignore[attr-defined]
        },
        status=status,
    )
    # The page may carry a new account's initial password: never keep it in a cache.
    add_never_cache_headers(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest, clinic: str) -> HttpResponse:
    """The clinic's members; POST adds one (a new account or an existing user name)."""
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, ADMIN)
    if request.method == "GET":
        return _users_page(request, clinic_obj, role)
    form = AddMemberForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            added = services.add_member(
                by=request.user,
                clinic=clinic_obj,
                username=data["username"],
                role=data["role"],
                new_account=data["account"] == "new",
                display_name=data["display_name"],
                email=data["email"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            user = added.membership.user
            if added.initial_password is None:
                messages.success(
                    request,
                    f"{user.username} is now {added.membership.get_role_display()} here. "
                    "It is in the audit log.",
                )
                return redirect("clinic-users", clinic=clinic_obj.slug)
            # Shown in this response only (not a redirect, not in a message stored in the
            # session): reloading the page does not show it again.
            return _users_page(request, clinic_obj, role, added=added)
    return _users_page(request, clinic_obj, role, form=form, status=422)


@login_required
@require_http_methods(["POST"])
def member(request: HttpRequest, clinic: str, member_id: int) -> HttpResponse:
    """One member: change the role, deactivate, reactivate, unlock (field ``action``)."""
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, ADMIN)
    membership = services.find_membership(
        by=request.user, clinic=clinic_obj, membership_id=member_id
    )
    form = MemberActionForm(request.POST)
    if not form.is_valid():
        errors = [f"{k}: {m}" for k, found in form.errors.items() for m in found]
        return _users_page(request, clinic_obj, role, errors=errors, status=422)
    action = form.cleaned_data["action"]
    name = membership.user.username
    try:
        if action == "role":
            changed = services.change_role(
                by=request.user, membership=membership, role=form.cleaned_data["role"]
            )
            done = f"{name} is now {changed.get_role_display()}."
        elif action in {"deactivate", "reactivate"}:
            services.set_active(
                by=request.user, membership=membership, active=action == "reactivate"
            )
            done = f"{name} is {action}d."
        else:
            cleared = services.unlock_account(by=request.user, membership=membership)
            done = f"{name} is unlocked ({cleared} failed log-in record(s) cleared)."
    except ValidationError as exc:
        errors = [f"{name}: {m}" for found in exc.message_dict.values() for m in found]
        return _users_page(request, clinic_obj, role, errors=errors, status=422)
    messages.success(request, done + " It is in the audit log.")
    return redirect("clinic-users", clinic=clinic_obj.slug)


# -- the drug library ---------------------------------------------------------------------


def _library_choices(uploads: list[ClinicDrugLibrary]) -> list[tuple[str, str]]:
    builtin = builtin_library()
    return [
        (BUILTIN, f"{builtin.id} version {builtin.version} (shipped with OpenIDDS)"),
        *(
            (
                str(u.pk),
                f"{u.library_name} version {u.library_version} "
                f"(uploaded {u.uploaded_at:%Y-%m-%d} by {u.uploaded_by})",
            )
            for u in uploads
        ),
    ]


def _library_page(
    request: HttpRequest,
    clinic: Clinic,
    role: Role,
    *,
    upload_form: UploadLibraryForm | None = None,
    select_form: SelectLibraryForm | None = None,
    status: int = 200,
) -> HttpResponse:
    uploads, selections = services.library_history(clinic)
    selection = current_selection(clinic)
    in_use = library_for_clinic(clinic)
    in_use_upload = selection.library if selection is not None else None
    shown_key = request.GET.get("show", "")
    shown, shown_upload, shown_label = in_use, in_use_upload, "in use"
    if shown_key == BUILTIN:
        shown, shown_upload, shown_label = builtin_library(), None, "shipped with OpenIDDS"
    elif shown_key.isdigit():
        shown_upload = next((u for u in uploads if u.pk == int(shown_key)), None)
        if shown_upload is None:
            raise Http404("no such library of this clinic")
        shown, shown_label = stored_library(shown_upload), f"upload #{shown_upload.pk}"
    is_in_use = (shown_upload.pk if shown_upload else None) == (
        in_use_upload.pk if in_use_upload else None
    )
    choices = _library_choices(uploads)
    current_key = str(in_use_upload.pk) if in_use_upload else BUILTIN
    return render(
        request,
        "clinicadmin/library.html",
        {
            "clinic": clinic,
            "role": role,
            "is_admin": role in ADMIN,
            "in_use": in_use,
            "selection": selection,
            "shown": shown,
            "shown_upload": shown_upload,
            "shown_label": shown_label,
            "shown_is_in_use": is_in_use,
            "rows": limit_rows(shown, raw_of(shown, shown_upload)),
            "changes": [] if is_in_use else differences(in_use, shown),
            "uploads": uploads,
            "selections": selections,
            "choices": choices,
            "upload_form": upload_form or UploadLibraryForm(),
            "select_form": select_form
            or SelectLibraryForm(choices=choices, initial={"library": current_key}),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def drug_library(request: HttpRequest, clinic: str) -> HttpResponse:
    """The library the clinic's dose checks use, its limits with their sources, the
    clinic's uploads; POST (clinic admin) ``action=upload`` or ``action=select``."""
    clinic_obj, role = _member_clinic(request, clinic)
    if request.method == "GET":
        require_role(request.user, clinic_obj, ADMIN | CLINICAL)
        return _library_page(request, clinic_obj, role)
    require_role(request.user, clinic_obj, ADMIN)
    action = request.POST.get("action")
    if action == "upload":
        upload_form = UploadLibraryForm(request.POST, request.FILES)
        if upload_form.is_valid():
            try:
                upload = services.upload_library(
                    by=request.user,
                    clinic=clinic_obj,
                    toml=upload_form.cleaned_data["toml"],
                    note=upload_form.cleaned_data["note"],
                )
            except ValidationError as exc:
                exc = ValidationError(
                    {("file" if k == "toml" else k): v for k, v in exc.message_dict.items()}
                )
                _add_errors(upload_form, exc)
            else:
                messages.success(
                    request,
                    f"Uploaded {upload.library_name} version {upload.library_version}. It is "
                    "not in use until you choose it below. It is in the audit log.",
                )
                response = redirect("clinic-drug-library", clinic=clinic_obj.slug)
                response["Location"] += f"?show={upload.pk}"
                return response
        return _library_page(request, clinic_obj, role, upload_form=upload_form, status=422)
    if action == "select":
        uploads, _ = services.library_history(clinic_obj)
        select_form = SelectLibraryForm(request.POST, choices=_library_choices(uploads))
        if select_form.is_valid():
            key = select_form.cleaned_data["library"]
            chosen = None if key == BUILTIN else next(u for u in uploads if str(u.pk) == key)
            try:
                selection = services.select_library(
                    by=request.user,
                    clinic=clinic_obj,
                    library=chosen,
                    reason=select_form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                _add_errors(select_form, exc)
            else:
                messages.success(
                    request,
                    f"The clinic's dose checks now use {selection.library_name} version "
                    f"{selection.library_version}. It is in the audit log.",
                )
                return redirect("clinic-drug-library", clinic=clinic_obj.slug)
        return _library_page(request, clinic_obj, role, select_form=select_form, status=422)
    raise Http404("no such action")
