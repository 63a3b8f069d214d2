"""The diary's pages: the portal's diary, recovery and programme pages for the patient and
caregiver, and the clinic's plan, recovery-template and red-flag pages. Thin: parse,
call a service, render."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import CLINICAL, require_role, role_in
from openidds.web.diary import data, scoring, services, trends
from openidds.web.diary.forms import (
    BpiForm,
    CheckInForm,
    DiaryForm,
    OdiForm,
    PlanForm,
    ProgressForm,
    TemplateForm,
    add_service_errors,
)
from openidds.web.diary.instructions import call_instruction
from openidds.web.diary.models import CheckIn, DiaryEntry, Questionnaire, RedFlag
from openidds.web.implants.services import active_implant
from openidds.web.patients import services as patient_services
from openidds.web.portal.models import PortalAccount


def _portal_context(account: PortalAccount, **extra: Any) -> dict[str, Any]:
    return {"account": account, "patient": account.patient, **extra}


# -- portal: diary -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def portal_diary(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = services.portal_reader(request.user, patient_id, page="diary")
    patient = account.patient
    form = DiaryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_diary_entry(by=request.user, patient=patient, **form.service_kwargs())
        except ValidationError as exc:
            add_service_errors(form, exc, DiaryForm.error_names())
        else:
            return _redirect("portal-diary", "saved=entry", patient_id=patient.pk)
    entries = trends.latest_per_day(
        list(DiaryEntry.objects.filter(patient=patient).select_related("written_by"))
    )[-14:]
    adl = dict((i["key"], i["label"]) for i in data.adl_items())
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "diary/portal_diary.html",
            _portal_context(
                account,
                form=form,
                entries=list(reversed(entries)),
                adl_labels=adl,
                plot=trends.plot_data(patient),
                summary=trends.summary(patient),
                bpi_due=services.questionnaire_due(patient, "bpi"),
                odi_due=services.questionnaire_due(patient, "odi"),
                questionnaires=Questionnaire.objects.filter(patient=patient).select_related(
                    "written_by"
                )[:10],
                outcomes=data.outcomes(),
                notice=diary_notice(request, patient),
            ),
            status=422 if request.method == "POST" else 200,
        )


def _questionnaire_page(
    request: HttpRequest, patient_id: int, kind: str, form_class: Any, template: str
) -> HttpResponse:
    account = services.portal_reader(request.user, patient_id, page=f"diary-{kind}")
    patient = account.patient
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            q = services.record_questionnaire(
                by=request.user,
                patient=patient,
                kind=kind,
                answers=form.answers(),
                day=form.cleaned_data.get("day"),
            )
        except ValidationError as exc:
            names = {f"answers.{k}": k for k in form.fields}
            add_service_errors(form, exc, names)
        else:
            return _redirect("portal-diary", f"saved={kind}&q={q.pk}", patient_id=patient.pk)
    return render(
        request,
        template,
        _portal_context(account, form=form, rules=data.bpi() if kind == "bpi" else data.odi()),
        status=422 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def portal_bpi(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _questionnaire_page(request, patient_id, "bpi", BpiForm, "diary/portal_bpi.html")


@login_required
@require_http_methods(["GET", "POST"])
def portal_odi(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _questionnaire_page(request, patient_id, "odi", OdiForm, "diary/portal_odi.html")


# -- portal: recovery ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def portal_recovery(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = services.portal_reader(request.user, patient_id, page="recovery")
    patient = account.patient
    form = CheckInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            checkin = services.record_checkin(
                by=request.user,
                patient=patient,
                answers=form.answers(),
                pain_today=form.cleaned_data.get("pain_today"),
                note=form.cleaned_data.get("note") or "",
            )
        except ValidationError as exc:
            add_service_errors(form, exc, CheckInForm.error_names())
        else:
            return redirect("portal-recovery-checkin", patient_id=patient.pk, checkin_id=checkin.pk)
    implant = active_implant(patient)
    week = services.recovery_week(patient)
    weeks = services.recovery_weeks(patient.clinic)
    recent = CheckIn.objects.filter(patient=patient).select_related("written_by")[:7]
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "diary/portal_recovery.html",
            _portal_context(
                account,
                form=form,
                implant=implant,
                week=week,
                weeks=weeks,
                in_recovery=week is not None and 1 <= week <= len(weeks),
                recent=recent,
                open_flags=services.open_red_flags(patient),
            ),
            status=422 if request.method == "POST" else 200,
        )


@login_required
@require_GET
def portal_checkin(request: HttpRequest, patient_id: int, checkin_id: int) -> HttpResponse:
    account = services.portal_reader(request.user, patient_id, page="recovery-checkin")
    patient = account.patient
    checkin = get_object_or_404(CheckIn, pk=checkin_id, patient=patient)
    instruction = call_instruction(patient, checkin.red_flags)
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "diary/portal_checkin.html",
            _portal_context(account, checkin=checkin, instruction=instruction),
        )


# -- portal: the programme -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def portal_plan(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = services.portal_reader(request.user, patient_id, page="plan")
    patient = account.patient
    plan = services.current_plan(patient)
    form = ProgressForm(request.POST or None)
    failed_goal = ""
    if request.method == "POST":
        failed_goal = request.POST.get("goal_key", "")
        if form.is_valid():
            d = form.cleaned_data
            try:
                services.record_goal_progress(
                    by=request.user,
                    patient=patient,
                    goal_key=d["goal_key"],
                    value=d["value"],
                    note=d.get("note") or "",
                    day=d.get("day"),
                )
            except ValidationError as exc:
                add_service_errors(form, exc, {"goal_key": "value"})
            else:
                return _redirect("portal-plan", "saved=progress", patient_id=patient.pk)
    with timezone.override(ZoneInfo(patient.time_zone)):
        return render(
            request,
            "diary/portal_plan.html",
            _portal_context(
                account,
                plan=plan,
                goals=services.goals_with_progress(plan),
                therapy_kinds=services.THERAPY_KINDS,
                form=form,
                failed_goal=failed_goal,
                notice="Progress saved. Your clinic can see it."
                if request.GET.get("saved") == "progress"
                else "",
            ),
            status=422 if request.method == "POST" else 200,
        )


# -- clinic --------------------------------------------------------------------------------


def _clinic_patient(request: HttpRequest, slug: str, patient_id: int) -> tuple[Clinic, Any, Any]:
    clinic = get_object_or_404(Clinic, slug=slug)
    role = role_in(request.user, clinic)
    if role is None:
        raise Http404("no such clinic")
    require_role(request.user, clinic, CLINICAL)
    patient = patient_services.find_patient(by=request.user, patient_id=patient_id, clinic=clinic)
    return clinic, role, patient


@login_required
@require_http_methods(["GET", "POST"])
def clinic_plan(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role, patient = _clinic_patient(request, clinic, patient_id)
    plan = services.current_plan(patient)
    n_goals = max(4, (len(plan.goals) + 1) if plan else 0)
    n_therapies = max(5, (len(plan.therapies) + 1) if plan else 0)
    n_reviews = max(3, (len(plan.review_dates) + 1) if plan else 0)
    sizes = {"goals": n_goals, "therapies": n_therapies, "reviews": n_reviews}
    if request.method == "POST":
        form = PlanForm(request.POST, **sizes)
        if form.is_valid():
            try:
                services.write_plan(by=request.user, patient=patient, **form.service_kwargs())
            except ValidationError as exc:
                add_service_errors(form, exc, {})
            else:
                return _redirect(
                    "patient-detail",
                    "diary=plan-saved",
                    clinic=clinic_obj.slug,
                    patient_id=patient.pk,
                    anchor="diary",
                )
    else:
        services.clinician_reader(request.user, patient, what="pain plan")
        form = PlanForm(initial=PlanForm.initial_from(plan), **sizes)
    return render(
        request,
        "diary/clinic_plan.html",
        {"clinic": clinic_obj, "role": role, "patient": patient, "plan": plan, "form": form},
        status=422 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def clinic_recovery_template(request: HttpRequest, clinic: str) -> HttpResponse:
    clinic_obj = get_object_or_404(Clinic, slug=clinic)
    role = role_in(request.user, clinic_obj)
    if role is None:
        raise Http404("no such clinic")
    require_role(request.user, clinic_obj, CLINICAL)
    current = services.recovery_template(clinic_obj)
    weeks = services.recovery_weeks(clinic_obj)
    n_weeks = len(weeks) + 1
    if request.method == "POST":
        form = TemplateForm(request.POST, weeks=max(n_weeks, 13))
        if form.is_valid():
            try:
                services.write_recovery_template(
                    by=request.user,
                    clinic=clinic_obj,
                    weeks=form.weeks(),
                    note=form.cleaned_data.get("note") or "",
                )
            except ValidationError as exc:
                add_service_errors(form, exc, {})
            else:
                return _redirect("diary-recovery-template", "saved=1", clinic=clinic_obj.slug)
        form.n_weeks = max(n_weeks, _last_filled(form))
    else:
        form = TemplateForm(initial=TemplateForm.initial_from(weeks), weeks=n_weeks)
    return render(
        request,
        "diary/clinic_template.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "form": form,
            "current": current,
            "sources": data.load("recovery")["sources"],
            "notice": "Recovery programme saved as a new version."
            if request.GET.get("saved")
            else "",
        },
        status=422 if request.method == "POST" else 200,
    )


def _last_filled(form: TemplateForm) -> int:
    last = 0
    for i in range(1, 14):
        if form.data.get(f"week_{i}_title") or form.data.get(f"week_{i}_instructions"):
            last = i
    return last


@login_required
@require_POST
def clinic_resolve_red_flag(
    request: HttpRequest, clinic: str, patient_id: int, flag_id: int
) -> HttpResponse:
    clinic_obj, _role, patient = _clinic_patient(request, clinic, patient_id)
    flag = get_object_or_404(RedFlag, pk=flag_id, patient=patient)
    note = request.POST.get("note", "")
    try:
        services.resolve_red_flag(by=request.user, red_flag=flag, note=note)
    except ValidationError:
        outcome = f"diary=unresolved&flag={flag.pk}"
    else:
        outcome = "diary=resolved"
    return _redirect(
        "patient-detail", outcome, clinic=clinic_obj.slug, patient_id=patient.pk, anchor="diary"
    )


def _redirect(name: str, query: str, *, anchor: str = "", **kwargs: Any) -> HttpResponse:
    """Redirect with the outcome in the query string: the page shows it in its own
    ``role="status"`` notice (the base template's message list fails axe-core: see the
    report)."""
    url = f"{reverse(name, kwargs=kwargs)}?{query}"
    return redirect(f"{url}#{anchor}" if anchor else url)


def diary_notice(request: HttpRequest, patient: Any) -> str:
    """The portal diary's notice after a save (from the query string)."""
    saved = request.GET.get("saved", "")
    if saved == "entry":
        return "Saved in your diary. Your clinic can see it."
    if saved not in {"bpi", "odi"}:
        return ""
    q = Questionnaire.objects.filter(pk=_int(request.GET.get("q")), patient=patient).first()
    if q is None:
        return ""
    if q.kind == "bpi":
        interference = (
            f", interference {q.bpi_interference:.1f} of 10."
            if q.bpi_interference is not None
            else " (interference: answer at least 4 of the 7 items for a score)."
        )
        return f"Saved. Pain severity {q.bpi_severity:.1f} of 10{interference}"
    return (
        f"Saved. Oswestry Disability Index {q.odi_percent:.1f} % "
        f"({scoring.odi_band(q.odi_percent or 0)})."
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
