"""The refill visit pages. Thin: parse the request, call a service function, render.

Results show on the visit page itself (the checklist's yeses, the discrepancy, the
acknowledgements, the fill and its dose-check findings), not as flash messages.

The checklist and the aspiration post with htmx and get the visit's working part back (the
discrepancy result shows at once); without JavaScript they post and redirect as usual.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import CLINICAL, require_role, role_in
from openidds.web.implants.twin import fmt, pump_state
from openidds.web.patients.models import Patient
from openidds.web.patients.services import find_patient
from openidds.web.refills import services
from openidds.web.refills.forms import (
    AbandonForm,
    AcknowledgeForm,
    AspirationForm,
    ChecklistForm,
    FillForm,
    StartForm,
)
from openidds.web.refills.models import RefillVisit, VisitStatus


def _member_clinic(request: HttpRequest, slug: str) -> tuple[Clinic, Role]:
    clinic = get_object_or_404(Clinic, slug=slug)
    role = role_in(request.user, clinic)
    if role is None:
        raise Http404("no such clinic")
    return clinic, role


def _visit(
    request: HttpRequest, clinic: str, patient_id: int, visit_id: int
) -> tuple[Clinic, Role, Patient, RefillVisit]:
    """404 for another clinic's clinic, patient or visit; the role is the caller's to check."""
    clinic_obj, role = _member_clinic(request, clinic)
    patient = find_patient(by=request.user, patient_id=patient_id, clinic=clinic_obj)
    visit = services.find_visit(by=request.user, visit_id=visit_id, patient=patient)
    return clinic_obj, role, patient, visit


def _add_errors(form: Form, exc: ValidationError, field_for: Any = None) -> None:
    for name, found in exc.message_dict.items():
        target = field_for(name) if field_for is not None else name
        form.add_error(target if target in form.fields else None, found)


def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _context(
    request: HttpRequest,
    clinic: Clinic,
    role: Role,
    patient: Patient,
    visit: RefillVisit,
    **forms: Form,
) -> dict[str, Any]:
    acks = list(visit.acknowledgements.select_related("physician"))
    expected_out = max(visit.expected_residual_ml - float(visit.residual_left_ml), 0.0)
    measured = (
        None
        if visit.aspirated_ml is None
        else float(visit.aspirated_ml) + float(visit.residual_left_ml)
    )
    volume = services.volume_to_draw(visit)
    difference = ""
    if visit.discrepancy_ml is not None:
        size = fmt(abs(visit.discrepancy_ml))
        if abs(visit.discrepancy_ml) < 0.005:
            difference = "as expected (difference under 0.01 mL)"
        elif visit.discrepancy_ml < 0:
            difference = f"{size} mL less than expected"
        else:
            difference = f"{size} mL more than expected"
    context: dict[str, Any] = {
        "clinic": clinic,
        "role": role,
        "patient": patient,
        "visit": visit,
        "implant": visit.implant,
        "lines": services.drug_lines(visit.order_drugs, volume),
        "volume_to_draw": volume,
        "expected_out": expected_out,
        "measured": measured,
        "difference": difference,
        "threshold": fmt(visit.threshold_ml),
        "acks": acks,
        "checklist": visit.checklist(),
        "missing": visit.checklist_missing(),
        "physician": role == Role.PHYSICIAN,
        "statuses": VisitStatus,
    }
    if visit.status == VisitStatus.STARTED or "aspiration_form" in forms:
        context["aspiration_form"] = forms.get("aspiration_form") or AspirationForm(
            initial={"residual_left_ml": 0}, auto_id="id_asp_%s"
        )
    if visit.is_open and visit.checklist_missing():
        context["checklist_form"] = forms.get("checklist_form") or ChecklistForm(
            pending=visit.checklist_missing()
        )
    if visit.status in (VisitStatus.READY_TO_FILL, VisitStatus.AWAITING_ACKNOWLEDGEMENT):
        context["fill_form"] = forms.get("fill_form") or FillForm(
            order=visit.order_drugs, initial={"volume_ml": volume}
        )
    if visit.is_open:
        context["abandon_form"] = forms.get("abandon_form") or AbandonForm(auto_id="id_ab_%s")
    if visit.status == VisitStatus.COMPLETED:
        state = pump_state(visit.implant, max(timezone.now(), visit.at))
        now_refill = state.forecast.get("recommended_refill") if not state.error else None
        context["state"] = state
        # Later records (a new program, a correction) move the forecast made at the fill.
        context["forecast_changed"] = (now_refill is None) != (visit.next_refill_at is None) or (
            now_refill is not None
            and visit.next_refill_at is not None
            and abs((now_refill - visit.next_refill_at).total_seconds()) >= 60
        )
        context["findings"] = services.fill_findings(visit)
    return context


def _work(
    request: HttpRequest,
    clinic: Clinic,
    role: Role,
    patient: Patient,
    visit: RefillVisit,
    status: int = 200,
    **forms: Form,
) -> HttpResponse:
    """The whole page, or (htmx) its working part."""
    template = "refills/_visit_work.html" if _htmx(request) else "refills/visit.html"
    with timezone.override(ZoneInfo(patient.time_zone)):
        response = render(
            request,
            template,
            _context(request, clinic, role, patient, visit, **forms),
            # htmx swaps only 2xx answers: the form with its errors comes back as 200.
            status=200 if _htmx(request) else status,
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


def _done(
    request: HttpRequest, clinic: Clinic, patient: Patient, visit: RefillVisit
) -> HttpResponse:
    response: HttpResponse = redirect(
        "refill-visit", clinic=clinic.slug, patient_id=patient.pk, visit_id=visit.pk
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def visit_start(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role = _member_clinic(request, clinic)
    patient = find_patient(by=request.user, patient_id=patient_id, clinic=clinic_obj)
    require_role(request.user, clinic_obj, CLINICAL)
    with timezone.override(ZoneInfo(patient.time_zone)):
        form = StartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                visit = services.start_visit(
                    by=request.user, patient=patient, at=form.cleaned_data.get("at")
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                return _done(request, clinic_obj, patient, visit)
        return render(
            request,
            "refills/start.html",
            {"clinic": clinic_obj, "role": role, "patient": patient, "form": form},
            status=422 if request.method == "POST" else 200,
        )


@login_required
@require_GET
def visit_detail(request: HttpRequest, clinic: str, patient_id: int, visit_id: int) -> HttpResponse:
    clinic_obj, role, patient, visit = _visit(request, clinic, patient_id, visit_id)
    services.view_visit(by=request.user, visit=visit)
    return _work(request, clinic_obj, role, patient, visit)


@login_required
@require_POST
def visit_checklist(
    request: HttpRequest, clinic: str, patient_id: int, visit_id: int
) -> HttpResponse:
    clinic_obj, role, patient, visit = _visit(request, clinic, patient_id, visit_id)
    require_role(request.user, clinic_obj, CLINICAL)
    form = ChecklistForm(request.POST, pending=visit.checklist_missing())
    if form.is_valid():
        try:
            visit = services.record_checklist(
                by=request.user, visit=visit, items=form.cleaned_data["items"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if _htmx(request):
                return _work(request, clinic_obj, role, patient, visit)
            return _done(request, clinic_obj, patient, visit)
    return _work(request, clinic_obj, role, patient, visit, 422, checklist_form=form)


@login_required
@require_POST
def visit_aspiration(
    request: HttpRequest, clinic: str, patient_id: int, visit_id: int
) -> HttpResponse:
    clinic_obj, role, patient, visit = _visit(request, clinic, patient_id, visit_id)
    require_role(request.user, clinic_obj, CLINICAL)
    form = AspirationForm(request.POST, auto_id="id_asp_%s")
    if form.is_valid():
        try:
            visit = services.record_aspiration(
                by=request.user,
                visit=visit,
                aspirated_ml=form.cleaned_data["aspirated_ml"],
                residual_left_ml=form.cleaned_data.get("residual_left_ml") or 0,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if _htmx(request):
                return _work(request, clinic_obj, role, patient, visit)
            return _done(request, clinic_obj, patient, visit)
    return _work(request, clinic_obj, role, patient, visit, 422, aspiration_form=form)


@login_required
@require_POST
def visit_complete(
    request: HttpRequest, clinic: str, patient_id: int, visit_id: int
) -> HttpResponse:
    clinic_obj, role, patient, visit = _visit(request, clinic, patient_id, visit_id)
    require_role(request.user, clinic_obj, CLINICAL)
    form = FillForm(request.POST, order=visit.order_drugs)
    if form.is_valid():
        try:
            visit = services.complete_refill(
                by=request.user,
                visit=visit,
                volume_ml=form.cleaned_data["volume_ml"],
                drugs=form.drugs(),
                drug_lot=form.cleaned_data["drug_lot"],
                drug_expiry=form.cleaned_data["drug_expiry"],
            )
        except ValidationError as exc:
            _add_errors(form, exc, form.field_for)
        else:
            return _done(request, clinic_obj, patient, visit)
    return _work(request, clinic_obj, role, patient, visit, 422, fill_form=form)


@login_required
@require_POST
def visit_abandon(
    request: HttpRequest, clinic: str, patient_id: int, visit_id: int
) -> HttpResponse:
    clinic_obj, role, patient, visit = _visit(request, clinic, patient_id, visit_id)
    require_role(request.user, clinic_obj, CLINICAL)
    form = AbandonForm(request.POST, auto_id="id_ab_%s")
    if form.is_valid():
        try:
            visit = services.abandon_visit(
                by=request.user, visit=visit, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return _done(request, clinic_obj, patient, visit)
    return _work(request, clinic_obj, role, patient, visit, 422, abandon_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def visit_acknowledge(
    request: HttpRequest, clinic: str, patient_id: int, visit_id: int
) -> HttpResponse:
    clinic_obj, role, patient, visit = _visit(request, clinic, patient_id, visit_id)
    require_role(request.user, clinic_obj, services.PHYSICIAN)
    form = AcknowledgeForm(request.POST or None)
    if request.method == "GET":
        services.view_visit(by=request.user, visit=visit)
    elif form.is_valid():
        try:
            services.acknowledge_discrepancy(
                by=request.user,
                visit=visit,
                note=form.cleaned_data["note"],
                decision=form.cleaned_data["decision"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return _done(request, clinic_obj, patient, visit)
    with timezone.override(ZoneInfo(patient.time_zone)):
        context = _context(request, clinic_obj, role, patient, visit)
        context["form"] = form
        return render(
            request,
            "refills/acknowledge.html",
            context,
            status=422 if request.method == "POST" else 200,
        )
