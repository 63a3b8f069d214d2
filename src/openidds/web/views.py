"""The pages. Thin: parse the request, call a service function, render."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms.models import model_to_dict
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import ADMIN, CLINICAL, memberships_of, require_role, role_in
from openidds.web.audit.services import audit_log_for
from openidds.web.implants import services as implant_services
from openidds.web.implants.forms import (
    CatheterRevisionForm,
    CorrectionForm,
    ExplantForm,
    FillForm,
    ImplantForm,
    InterrogationForm,
    MriForm,
)
from openidds.web.implants.models import Implant, ImplantStatus, PumpEvent
from openidds.web.implants.twin import effective_events, pump_state
from openidds.web.patients import services as patient_services
from openidds.web.patients.forms import AuditFilterForm, PatientForm, PatientSearchForm
from openidds.web.patients.models import Patient


def landing_url(user: Any) -> str:
    """Where a user lands after logging in: a nurse's or physician's worklist (their one
    clinic), a patient's or caregiver's portal, or the home page with every clinic."""
    memberships = list(memberships_of(user))
    roles = {m.role for m in memberships}
    if memberships and roles <= {Role.PATIENT, Role.CAREGIVER}:
        return reverse("portal-home")
    if len(memberships) == 1 and memberships[0].role in CLINICAL:
        return reverse("worklist", args=[memberships[0].clinic.slug])
    return reverse("home")


class LoginView(auth_views.LoginView):
    """Django's log-in (fields ``username`` and ``password``) landing on :func:`landing_url`
    unless the log-in page was asked for with ``?next=``."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        if self.next_page:
            return str(super().get_default_redirect_url())
        return landing_url(self.request.user)


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
                "nurse_kinds": list(implant_services.EVENT_ROLES),
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


#: What is recorded as an event (not prescribed): a fill or refill and an MRI scan, by a
#: physician or a nurse. Programs, boluses, PTM settings and stops are prescriptions
#: (``openidds.web.prescriptions``: checks, reasons, re-authentication, a signed record).
EVENT_FORMS: dict[str, Any] = {
    "fill": FillForm,
    "mri": MriForm,
    "interrogation": InterrogationForm,
    "catheter_revision": CatheterRevisionForm,
}
EVENT_TITLES = {
    "fill": "Record a fill or refill",
    "mri": "Record an MRI scan",
    "interrogation": "Record what the pump reported",
    "catheter_revision": "Record a catheter revision",
}


@login_required
@require_http_methods(["GET", "POST"])
def pump_event_create(
    request: HttpRequest, clinic: str, patient_id: int, kind: str
) -> HttpResponse:
    """A fill or an MRI scan (physician or nurse) on the active implant; the service refuses
    what the twin cannot replay or the dose checks block."""
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


@login_required
@require_http_methods(["GET", "POST"])
def pump_event_correct(
    request: HttpRequest, clinic: str, patient_id: int, event_id: int
) -> HttpResponse:
    """Correct a record of the pump's timeline: a new record that supersedes it (or
    withdraws it), with a reason. The same roles as recording it; an event a prescription
    carried out can be withdrawn or re-timed here, its content changes by a new
    prescription."""
    clinic_obj, role = _member_clinic(request, clinic)
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    event = get_object_or_404(PumpEvent, pk=event_id, implant__patient=patient)
    require_role(
        request.user,
        clinic_obj,
        implant_services.EVENT_ROLES.get(event.kind, implant_services.PHYSICIAN),
    )
    with timezone.override(ZoneInfo(patient.time_zone)):
        initial = {
            "at": timezone.localtime(event.at).strftime("%Y-%m-%dT%H:%M"),
            "fields_json": json.dumps(event.fields, ensure_ascii=False),
        }
        form = CorrectionForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            fields: Any = None
            text = (data.get("fields_json") or "").strip()
            if text and not data["void"]:
                try:
                    fields = json.loads(text)
                except ValueError as exc:
                    form.add_error("fields_json", f"not valid JSON: {exc}")
                if fields == event.fields:
                    fields = None
                elif fields is not None and event.prescription_id is not None:
                    form.add_error(
                        "fields_json",
                        "this record carries out a signed prescription: change the therapy "
                        "by prescribing a change (a correction may withdraw or re-time it)",
                    )
            if not form.errors:
                try:
                    implant_services.correct_pump_event(
                        by=request.user,
                        event=event,
                        reason=data["reason"],
                        at=data["at"],
                        fields=fields,
                        void=data["void"],
                    )
                except ValidationError as exc:
                    for field, found in exc.message_dict.items():
                        target = {"fields": "fields_json"}.get(field, field)
                        form.add_error(target if target in form.fields else None, found)
                else:
                    messages.success(
                        request, "Correction recorded. The old record stays, struck through."
                    )
                    return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        status = 422 if request.method == "POST" else 200
        return render(
            request,
            "implants/correct.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "event": event,
                "form": form,
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
