"""The pages. Thin: parse the request, call a service function, render."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms.models import model_to_dict
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import ADMIN, CLINICAL, memberships_of, require_role, role_in
from openidds.web.audit.services import audit_log_for
from openidds.web.implants import services as implant_services
from openidds.web.implants.forms import ExplantForm, FillForm, ImplantForm, ProgramForm
from openidds.web.implants.models import Implant, ImplantStatus
from openidds.web.implants.twin import effective_events, pump_state
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
    # The reading is audited above; what follows is the same chart's content.
    implants = list(
        Implant.objects.filter(patient=patient).select_related("supersedes", "recorded_by")
    )
    active = next((i for i in implants if i.status == ImplantStatus.ACTIVE), None)
    state = None
    records: list[Any] = []
    if active is not None:
        records = list(
            active.pump_events.select_related("recorded_by", "supersedes").order_by(
                "at", "sequence", "id"
            )
        )
        in_force = effective_events(active)
        now = timezone.now()
        state = pump_state(active, max(now, active.implanted_at), events=in_force)
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "patients/detail.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "implants": implants,
                "active": active,
                "state": state,
                "records": records,
                "superseded": {r.supersedes_id for r in records if r.supersedes_id},
            },
        )


@login_required
@require_http_methods(["GET", "POST"])
def implant_create(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    require_role(request.user, clinic_obj, implant_services.PHYSICIAN)
    current = implant_services.active_implant(patient)
    with timezone.override(ZoneInfo(patient.time_zone)):
        form = ImplantForm(request.POST or None, time_zone=patient.time_zone)
        if request.method == "POST" and form.is_valid():
            try:
                implant_services.record_implant(
                    by=request.user,
                    patient=patient,
                    replaces=current if request.POST.get("replaces") == "yes" else None,
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Implant recorded. It is in the audit log.")
                return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        status = 422 if request.method == "POST" else 200
        return render(
            request,
            "implants/form.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "form": form,
                "current": current,
            },
            status=status,
        )


@login_required
@require_http_methods(["GET", "POST"])
def implant_explant(
    request: HttpRequest, clinic: str, patient_id: int, implant_id: int
) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    implant = get_object_or_404(Implant, pk=implant_id, patient=patient)
    require_role(request.user, clinic_obj, implant_services.PHYSICIAN)
    with timezone.override(ZoneInfo(patient.time_zone)):
        form = ExplantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                implant_services.explant(by=request.user, implant=implant, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Explant recorded. It is in the audit log.")
                return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        status = 422 if request.method == "POST" else 200
        return render(
            request,
            "implants/explant.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "implant": implant,
                "form": form,
            },
            status=status,
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


EVENT_FORMS: dict[str, Any] = {"fill": FillForm, "program": ProgramForm}
EVENT_TITLES = {"fill": "Record a fill or refill", "program": "Record a new program"}


@login_required
@require_http_methods(["GET", "POST"])
def pump_event_create(
    request: HttpRequest, clinic: str, patient_id: int, kind: str
) -> HttpResponse:
    """A fill (physician or nurse) or a continuous program (physician) on the active
    implant; the service refuses what the twin cannot replay or the dose checks block."""
    clinic_obj, role = _member_clinic(request, clinic)
    if kind not in EVENT_FORMS:
        raise Http404("no such kind of record")
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    require_role(
        request.user, clinic_obj, implant_services.EVENT_ROLES.get(kind, implant_services.PHYSICIAN)
    )
    implant = implant_services.active_implant(patient)
    if implant is None:
        raise Http404("the patient has no active implant")
    with timezone.override(ZoneInfo(patient.time_zone)):
        form = EVENT_FORMS[kind](request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                event = implant_services.record_pump_event(
                    by=request.user,
                    implant=implant,
                    kind=kind,
                    at=form.cleaned_data["at"],
                    fields=form.scenario_fields(),
                )
            except ValidationError as exc:
                for field, found in exc.message_dict.items():
                    form.add_error(form.field_for(field), found)
            else:
                for finding in getattr(event, "findings", []):
                    messages.warning(
                        request, f"{finding.severity} finding {finding.code}: {finding.message}"
                    )
                messages.success(
                    request, "Recorded. It is in the pump's timeline and the audit log."
                )
                return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        status = 422 if request.method == "POST" else 200
        return render(
            request,
            "implants/event_form.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "implant": implant,
                "form": form,
                "title": EVENT_TITLES[kind],
            },
            status=status,
        )


def _add_service_errors(form: PatientForm, clinic: Clinic, patient: Patient | None = None) -> None:
    """Also show the service's own findings (e.g. a clashing MRN), all at once."""
    raw = {name: form.data.get(name, "") for name in form.fields}
    found = patient_services.field_errors(clinic=clinic, fields=raw, patient=patient)
    for field, field_messages in found.items():
        if field in form.fields and field not in form.errors:
            form.add_error(field, field_messages)


def _add_errors(form: Any, exc: ValidationError) -> None:
    for field, found in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, found)


def _time_zone_names() -> list[str]:
    return sorted(available_timezones())
