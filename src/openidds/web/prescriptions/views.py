"""Pages of prescriptions: compose and preview a change, sign it, the history and each
version. Thin: parse the request, call ``services``, render."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.implants import services as implant_services
from openidds.web.patients import services as patient_services
from openidds.web.prescriptions import services
from openidds.web.prescriptions.forms import ComposeForm, SignForm
from openidds.web.views import _member_clinic


def _patient(request: HttpRequest, clinic: str, patient_id: int) -> tuple[Any, Any, Any]:
    clinic_obj, role = _member_clinic(request, clinic)
    patient = patient_services.find_patient(
        by=request.user, patient_id=patient_id, clinic=clinic_obj
    )
    return clinic_obj, role, patient


@login_required
@require_http_methods(["GET", "POST"])
def prescription_new(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    """Compose a change; "Check" shows the preview (findings, old and new, the forecast)
    with a reason field per soft finding and the password; "Sign and save" signs it."""
    clinic_obj, role, patient = _patient(request, clinic, patient_id)
    require_role(request.user, clinic_obj, services.PHYSICIAN)
    implant = implant_services.active_implant(patient)
    if implant is None:
        raise Http404("the patient has no active implant")
    max_steps = int(implant.catalog_model.max_flex_steps)
    zone = ZoneInfo(patient.time_zone)
    with timezone.override(zone):
        initial = {"at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}
        form = ComposeForm(request.POST or None, initial=initial, max_steps=max_steps)
        preview = None
        sign_form = None
        status = 200
        if request.method == "POST":
            status = 422
            if form.is_valid():
                changes = form.changes()
                try:
                    preview = services.preview(by=request.user, patient=patient, changes=changes)
                except ValidationError as exc:
                    _form_errors(form, exc)
                else:
                    status = 200
                    sign_form = SignForm(request.POST, soft_codes=preview.soft_codes)
                    if request.POST.get("action") == "sign" and sign_form.is_valid():
                        try:
                            prescription = services.prescribe(
                                by=request.user,
                                patient=patient,
                                changes=changes,
                                reasons=sign_form.reasons(),
                                password=sign_form.cleaned_data.get("password", ""),
                            )
                        except ValidationError as exc:
                            status = 422
                            _sign_errors(form, sign_form, exc)
                        else:
                            # The signed record itself, with its signature check (not a flash
                            # message: base.html's message list is not yet accessible).
                            return redirect(
                                reverse(
                                    "prescription-detail",
                                    kwargs={
                                        "clinic": clinic_obj.slug,
                                        "patient_id": patient.pk,
                                        "prescription_id": prescription.pk,
                                    },
                                )
                                + "?signed=1"
                            )
                    elif request.POST.get("action") == "sign":
                        status = 422
                    else:
                        # a fresh preview asks for the reasons and password afresh
                        sign_form = SignForm(
                            initial={
                                f"reason_{c}": request.POST.get(f"reason_{c}", "")
                                for c in preview.soft_codes
                            },
                            soft_codes=preview.soft_codes,
                        )
        return render(
            request,
            "prescriptions/new.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "implant": implant,
                "form": form,
                "preview": preview,
                "sign_form": sign_form,
                "findings": _findings_for_page(preview),
                "plot": _plot(preview) if preview is not None else None,
                **_forecast_table(preview),
                "current": services.current_prescription(patient),
            },
            status=status,
        )


def _findings_for_page(preview: Any) -> list[dict[str, Any]]:
    if preview is None:
        return []
    order = {"hard": 0, "soft": 1, "info": 2}
    return sorted(preview.findings, key=lambda f: order.get(f["severity"], 3))


def _plot(preview: Any) -> dict[str, Any]:
    fc = preview.forecast
    daily: dict[str, Any] = {}
    for label, series in (("current", fc["current"]), ("proposed", fc["proposed"])):
        for d in series["drugs"]:
            daily.setdefault(d, {})[label] = {
                "x": [w["start"] for w in series["days"]],
                "y": [w["delivered_mg"].get(d, 0.0) for w in series["days"]],
            }
    return {
        "reservoir": {
            "current": fc["current"]["reservoir"],
            "proposed": fc["proposed"]["reservoir"],
        },
        "daily": daily,
        "low_threshold_ml": preview.implant.catalog_model.low_reservoir_alarm_ml,
    }


def _forecast_table(preview: Any) -> dict[str, Any]:
    if preview is None:
        return {"forecast_drugs": [], "forecast_rows": []}
    current, proposed = preview.forecast["current"], preview.forecast["proposed"]
    drugs = sorted(set(current["drugs"]) | set(proposed["drugs"]))
    rows = []
    for now, new in zip(current["days"], proposed["days"], strict=True):
        rows.append(
            {
                "day": new["day"],
                "cells": [
                    (now["delivered_mg"].get(d, 0.0), new["delivered_mg"].get(d, 0.0))
                    for d in drugs
                ],
                "reservoir_now": now["reservoir_ml_at_end"],
                "reservoir_new": new["reservoir_ml_at_end"],
            }
        )
    return {"forecast_drugs": drugs, "forecast_rows": rows}


def _form_errors(form: ComposeForm, exc: ValidationError) -> None:
    for key, found in exc.message_dict.items():
        target = form.field_for(key) if key != NON_FIELD_ERRORS else None
        form.add_error(target, found)


def _sign_errors(form: ComposeForm, sign_form: SignForm, exc: ValidationError) -> None:
    for key, found in exc.message_dict.items():
        if key == "password":
            sign_form.add_error("password", found)
        elif key.startswith("reasons."):
            name = f"reason_{key.removeprefix('reasons.')}"
            sign_form.add_error(name if name in sign_form.fields else None, found)
        elif key == NON_FIELD_ERRORS:
            sign_form.add_error(None, found)
        else:
            form.add_error(form.field_for(key), found)


@login_required
@require_GET
def prescription_list(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role, patient = _patient(request, clinic, patient_id)
    require_role(request.user, clinic_obj, CLINICAL)
    found = services.list_prescriptions(by=request.user, patient=patient)
    checks = services.verify_history(patient)
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "prescriptions/list.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "rows": [(p, checks.get(p.version)) for p in found],
            },
        )


@login_required
@require_GET
def prescription_detail(
    request: HttpRequest, clinic: str, patient_id: int, prescription_id: int
) -> HttpResponse:
    clinic_obj, role, patient = _patient(request, clinic, patient_id)
    require_role(request.user, clinic_obj, CLINICAL)
    prescription = services.get_prescription(
        by=request.user, prescription_id=prescription_id, patient=patient
    )
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "prescriptions/detail.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "prescription": prescription,
                "verification": services.verify(prescription),
                "diff": services.diff_to_previous(prescription),
                "changes": services.changes_for_people(prescription),
                "events": list(prescription.pump_events.order_by("sequence")),
                "just_signed": request.GET.get("signed") == "1",
            },
        )
