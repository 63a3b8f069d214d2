"""The pages. Thin: parse the request, call a service function, render."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import available_timezones

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms.models import model_to_dict
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import ADMIN, CLINICAL, memberships_of, require_role, role_in
from openidds.web.audit.services import audit_log_for
from openidds.web.patients import services as patient_services
from openidds.web.patients.forms import AuditFilterForm, PatientForm, PatientSearchForm
from openidds.web.patients.models import Patient


def _member_clinic(request: HttpRequest, slug: str) -> tuple[Clinic, Role]:
    """The clinic and the user's role in it; 404 for clinics the user is no member of."""
    clinic = get_object_or_404(Clinic, slug=slug)
    role = role_in(request.user, clinic)
    if role is None:
        raise Http404("no such clinic")
    return clinic, role


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(memberships_of(request.user).order_by("clinic__name"))
    return render(
        request,
        "home.html",
        {"memberships": memberships, "clinical": CLINICAL, "admin": ADMIN},
    )


@login_required
@require_GET
def patient_list(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, CLINICAL)
    form = PatientSearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    patients = patient_services.search_patients(by=request.user, clinic=clinic_obj, query=query)
    context = {"clinic": clinic_obj, "role": role, "form": form, "patients": patients, "q": query}
    partial = request.headers.get("HX-Request") == "true"
    template = "patients/_results.html" if partial else "patients/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])  # caches must not mix page and fragment
    return response


@login_required
@require_GET
def patient_detail(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, CLINICAL)
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    patient_services.record_patient_view(by=request.user, patient=patient)
    return render(
        request, "patients/detail.html", {"clinic": clinic_obj, "role": role, "patient": patient}
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, CLINICAL)
    form = PatientForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                patient = patient_services.create_patient(
                    by=request.user, clinic=clinic_obj, **form.cleaned_data
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        else:
            _add_service_errors(form, clinic_obj)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "patients/form.html",
        {"clinic": clinic_obj, "role": role, "form": form, "time_zones": _time_zone_names()},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, CLINICAL)
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    if request.method == "GET":
        patient_services.record_patient_view(by=request.user, patient=patient)
        form = PatientForm(instance=patient)
    else:
        # Unbound to the instance: the service, not the form, changes the patient.
        form = PatientForm(request.POST, initial=model_to_dict(patient))
        if form.is_valid():
            try:
                patient_services.update_patient(
                    by=request.user, patient=patient, **form.cleaned_data
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Saved. The change is in the audit log.")
                return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        else:
            _add_service_errors(form, clinic_obj, patient)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "patients/form.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "form": form,
            "patient": patient,
            "time_zones": _time_zone_names(),
        },
        status=status,
    )


@login_required
@require_GET
def audit_log(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    require_role(request.user, clinic_obj, ADMIN)
    form = AuditFilterForm(request.GET)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "action": data["action"] or "",
            "actor": data["actor"] or "",
            "patient_id": data["patient"],
            "since": datetime.combine(data["since"], time(), tzinfo=UTC) if data["since"] else None,
            "until": datetime.combine(data["until"] + timedelta(days=1), time(), tzinfo=UTC)
            if data["until"]
            else None,
        }
    events = audit_log_for(by=request.user, clinic=clinic_obj, **filters)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/log.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "form": form,
            "page": page,
            "query": query.urlencode(),
        },
    )


def _add_service_errors(form: PatientForm, clinic: Clinic, patient: Patient | None = None) -> None:
    """Also show the service's own findings (e.g. a clashing MRN), all at once."""
    raw = {name: form.data.get(name, "") for name in form.fields}
    found = patient_services.field_errors(clinic=clinic, fields=raw, patient=patient)
    for field, field_messages in found.items():
        if field in form.fields and field not in form.errors:
            form.add_error(field, field_messages)


def _add_errors(form: PatientForm, exc: ValidationError) -> None:
    for field, found in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, found)


def _time_zone_names() -> list[str]:
    return sorted(available_timezones())
