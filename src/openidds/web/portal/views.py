"""The portal's pages (patients and caregivers) and its clinic pages. Thin: parse, call a
service, render."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import ADMIN, CLINICAL, require_role, role_in
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.patients import services as patient_services
from openidds.web.patients.models import Patient
from openidds.web.portal import services
from openidds.web.portal.access import live_accounts, portal_account, require_patient_self
from openidds.web.portal.forms import (
    AcceptForm,
    CaregiverForm,
    ContactForm,
    ScheduleForm,
    StatusForm,
)
from openidds.web.portal.ics import refill_calendar
from openidds.web.portal.models import (
    Invitation,
    PortalAccount,
    PortalNotification,
    RefillAppointment,
    Relation,
)
from openidds.web.portal.pump import pump_summary
from openidds.web.portal.wallet import summary_pdf, wallet_card_pdf


def _add_errors(form: Any, exc: ValidationError) -> None:
    for field, found in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, found)


def _tz(patient: Patient) -> Any:
    return timezone.override(ZoneInfo(patient.time_zone))


def _caregiver_state(account: PortalAccount) -> dict[str, Any]:
    patient = account.patient
    now = timezone.now()
    caregiver = (
        PortalAccount.objects.filter(
            patient=patient, relation=Relation.CAREGIVER, revoked_at__isnull=True
        )
        .select_related("user")
        .first()
    )
    pending = [
        i
        for i in Invitation.objects.filter(
            patient=patient, relation=Relation.CAREGIVER, accepted_at__isnull=True
        )
        if i.status_at(now) == "pending"
    ]
    return {"caregiver": caregiver, "pending": pending}


# -- portal: home ------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The user's patients; a user with one goes straight to that patient's page."""
    accounts = list(live_accounts(request.user))
    if not accounts:
        raise PermissionDenied("the portal is for patients and the caregivers they invited")
    if len(accounts) == 1:
        return redirect("portal-patient", patient_id=accounts[0].patient_id)
    return render(request, "portal/home.html", {"accounts": accounts})


@login_required
@require_GET
def patient_home(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    services.record_portal_view(by=request.user, account=account, page="home")
    patient = account.patient
    summary = pump_summary(patient)
    notifications = list(PortalNotification.objects.filter(patient=patient)[:20])
    context = {
        "account": account,
        "patient": patient,
        "summary": summary,
        "notifications": notifications,
        "several": live_accounts(request.user).count() > 1,
        **_caregiver_state(account),
    }
    with _tz(patient):
        return render(request, "portal/patient.html", context)


# -- portal: my pump --------------------------------------------------------------------------


@login_required
@require_GET
def pump(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    services.record_portal_view(by=request.user, account=account, page="pump")
    patient = account.patient
    summary = pump_summary(patient)
    feed = services.live_feed(account)
    with _tz(patient):
        return render(
            request,
            "portal/pump.html",
            {"account": account, "patient": patient, "summary": summary, "feed": feed},
        )


def _ics_response(patient: Patient, request: HttpRequest, filename: str) -> HttpResponse:
    contact = services.clinic_contact(patient.clinic)
    body = refill_calendar(
        patient,
        services.upcoming_appointments(patient),
        phone_24h=contact.phone_24h if contact else "",
        host=request.get_host().split(":")[0] or "openidds",
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def calendar_download(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    record(
        by=request.user,
        action=Action.CALENDAR_DOWNLOADED,
        clinic=account.patient.clinic,
        patient=account.patient,
        details={"via": "download"},
    )
    return _ics_response(account.patient, request, "pump-refills.ics")


@login_required
@require_POST
def calendar_feed_manage(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    if request.POST.get("action") == "revoke":
        services.revoke_calendar_feed(by=request.user, patient_id=patient_id)
        messages.success(request, "The calendar address no longer works.")
        return redirect("portal-pump", patient_id=patient_id)
    token = services.new_calendar_feed(by=request.user, patient_id=patient_id)
    url = request.build_absolute_uri(reverse("portal-calendar-feed", args=[token]))
    response = render(
        request,
        "portal/feed.html",
        {"account": account, "patient": account.patient, "url": url},
    )
    response["Cache-Control"] = "private, no-store"
    return response


@never_cache
@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The private feed: no log-in; the secret in the address is the key."""
    account = services.feed_account(token)
    if account is None:
        raise Http404("no such calendar")
    return _ics_response(account.patient, request, "pump-refills.ics")


# -- portal: wallet card ----------------------------------------------------------------------


def _pdf(request: HttpRequest, patient_id: int, kind: str) -> HttpResponse:
    account = portal_account(request.user, patient_id)
    patient = account.patient
    summary = pump_summary(patient)
    body = wallet_card_pdf(summary) if kind == "card" else summary_pdf(summary)
    record(
        by=request.user,
        action=Action.WALLET_CARD_DOWNLOADED,
        clinic=patient.clinic,
        patient=patient,
        details={"format": kind},
    )
    response = HttpResponse(body, content_type="application/pdf")
    name = "wallet-card.pdf" if kind == "card" else "pump-summary.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def wallet_card(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _pdf(request, patient_id, "card")


@login_required
@require_GET
def wallet_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _pdf(request, patient_id, "a4")


# -- portal: caregiver --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def caregiver(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = require_patient_self(request.user, patient_id)
    form = CaregiverForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.invite_caregiver(
                by=request.user, patient_id=patient_id, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            _add_errors(form, exc)
    elif request.method == "GET":
        services.record_portal_view(by=request.user, account=account, page="caregiver")
    link = (
        request.build_absolute_uri(reverse("portal-accept")) + f"?t={issued.token}"
        if issued
        else ""
    )
    status = 422 if request.method == "POST" and issued is None else 200
    with _tz(account.patient):
        response = render(
            request,
            "portal/caregiver.html",
            {
                "account": account,
                "patient": account.patient,
                "form": form,
                "issued": issued,
                "link": link,
                **_caregiver_state(account),
            },
            status=status,
        )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def caregiver_revoke(request: HttpRequest, patient_id: int) -> HttpResponse:
    account = require_patient_self(request.user, patient_id)
    patient = account.patient
    try:
        if request.POST.get("invitation"):
            invitation = get_object_or_404(
                Invitation,
                pk=_int(request.POST["invitation"]),
                patient=patient,
                relation=Relation.CAREGIVER,
            )
            services.revoke_invitation(by=request.user, invitation=invitation)
            messages.success(request, "The invitation is withdrawn.")
        else:
            target = get_object_or_404(
                PortalAccount,
                pk=_int(request.POST.get("account", "")),
                patient=patient,
                relation=Relation.CAREGIVER,
            )
            services.revoke_account(by=request.user, account=target)
            messages.success(request, "Your caregiver no longer has access.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("portal-caregiver", patient_id=patient_id)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise Http404("no such record") from exc


# -- accepting an invitation (anonymous) --------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def accept(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return render(request, "portal/accept_logged_in.html", status=409)
    if request.method == "GET" and request.GET.get("done") == "1":
        login = reverse("login") + "?next=" + reverse("portal-home")
        return render(request, "portal/accepted.html", {"login": login})
    token = request.GET.get("t", "") if request.method == "GET" else request.POST.get("token", "")
    initial = {"token": token[:100]}
    form = AcceptForm(request.POST or None, initial=initial)
    invitation = None
    link_problem = ""
    if token:
        try:
            invitation = services.check_invitation(token=token[:100])
        except ValidationError as exc:
            link_problem = " ".join(exc.messages)
        else:
            form.fields["code"].widget = forms.HiddenInput()
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.accept_invitation(
                by=request.user,
                code=data["code"] or "",
                token=data["token"] or "",
                username=data["username"],
                password=data["password"],
                password_again=data["password_again"],
                email=data["email"] or "",
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            return redirect(reverse("portal-accept") + "?done=1")
    status = 422 if request.method == "POST" else 200
    response = render(
        request,
        "portal/accept.html",
        {"form": form, "invitation": invitation, "link_problem": link_problem},
        status=status,
    )
    # The site's Referrer-Policy (same-origin) keeps the link's token from other sites;
    # "no-referrer" here would make the browser send "Origin: null" and fail CSRF.
    return response


# -- clinic pages -------------------------------------------------------------------------------


def _member_clinic(request: HttpRequest, slug: str) -> tuple[Clinic, Role]:
    clinic = get_object_or_404(Clinic, slug=slug)
    role = role_in(request.user, clinic)
    if role is None:
        raise Http404("no such clinic")
    return clinic, role


def _clinic_patient(
    request: HttpRequest, slug: str, patient_id: int
) -> tuple[Clinic, Role, Patient]:
    clinic, role = _member_clinic(request, slug)
    patient = patient_services.find_patient(by=request.user, patient_id=patient_id, clinic=clinic)
    require_role(request.user, clinic, CLINICAL)
    return clinic, role, patient


@login_required
@require_http_methods(["GET", "POST"])
def clinic_portal_admin(request: HttpRequest, clinic: str) -> HttpResponse:
    """Invitations and accounts of the clinic's patients; the clinic admin edits the
    contact details the portal and the wallet card show."""
    clinic_obj, role = _member_clinic(request, clinic)
    if request.method == "POST":
        require_role(request.user, clinic_obj, ADMIN)
    else:
        require_role(request.user, clinic_obj, services.PORTAL_ADMIN_VIEWERS)
    contact = services.clinic_contact(clinic_obj)
    form = ContactForm(request.POST or None, instance=None, initial=_contact_initial(contact))
    if request.method == "POST" and form.is_valid():
        try:
            services.save_clinic_contact(
                by=request.user,
                clinic=clinic_obj,
                **{k: form.cleaned_data[k] for k in services.CONTACT_FIELDS},
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Saved. The portal and new wallet cards show it now.")
            return redirect("clinic-portal-admin", clinic=clinic_obj.slug)
    now = timezone.now()
    invitations = list(
        Invitation.objects.filter(patient__clinic=clinic_obj)
        .select_related("patient", "created_by")
        .order_by("-created_at")[:200]
    )
    accounts = list(
        PortalAccount.objects.filter(patient__clinic=clinic_obj)
        .select_related("patient", "user")
        .order_by("revoked_at", "patient__name", "relation")[:500]
    )
    record(
        by=request.user,
        action=Action.PORTAL_VIEWED,
        clinic=clinic_obj,
        details={"page": "clinic-portal-admin"},
    )
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "portal/clinic_admin.html",
        {
            "clinic": clinic_obj,
            "role": role,
            "form": form,
            "contact": contact,
            "invitations": [(i, i.status_at(now)) for i in invitations],
            "accounts": accounts,
            "can_edit": role in ADMIN,
            "can_revoke": role in CLINICAL,
        },
        status=status,
    )


def _contact_initial(contact: Any) -> dict[str, Any]:
    if contact is None:
        return {}
    return {name: getattr(contact, name) for name in services.CONTACT_FIELDS}


@login_required
@require_POST
def invite(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role, patient = _clinic_patient(request, clinic, patient_id)
    try:
        issued = services.invite_patient(by=request.user, patient=patient)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
    link = request.build_absolute_uri(reverse("portal-accept")) + f"?t={issued.token}"
    with _tz(patient):
        response = render(
            request,
            "portal/invited.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "issued": issued,
                "link": link,
            },
        )
    response["Cache-Control"] = "private, no-store"
    return response


def _back(request: HttpRequest, clinic: Clinic, patient: Patient) -> HttpResponse:
    if request.POST.get("back") == "admin":
        return redirect("clinic-portal-admin", clinic=clinic.slug)
    return redirect("patient-detail", clinic=clinic.slug, patient_id=patient.pk)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, clinic: str, invitation_id: int) -> HttpResponse:
    clinic_obj, _ = _member_clinic(request, clinic)
    invitation = get_object_or_404(
        Invitation.objects.select_related("patient"), pk=invitation_id, patient__clinic=clinic_obj
    )
    require_role(request.user, clinic_obj, CLINICAL)
    try:
        services.revoke_invitation(by=request.user, invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "The invitation is withdrawn. It is in the audit log.")
    return _back(request, clinic_obj, invitation.patient)


@login_required
@require_POST
def account_revoke(request: HttpRequest, clinic: str, account_id: int) -> HttpResponse:
    clinic_obj, _ = _member_clinic(request, clinic)
    account = get_object_or_404(
        PortalAccount.objects.select_related("patient", "user"),
        pk=account_id,
        patient__clinic=clinic_obj,
    )
    require_role(request.user, clinic_obj, CLINICAL)
    try:
        services.revoke_account(by=request.user, account=account)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Portal access revoked. It is in the audit log.")
    return _back(request, clinic_obj, account.patient)


@login_required
@require_http_methods(["GET", "POST"])
def refill_schedule(request: HttpRequest, clinic: str, patient_id: int) -> HttpResponse:
    clinic_obj, role, patient = _clinic_patient(request, clinic, patient_id)
    with _tz(patient):
        latest = services.latest_safe_refill(patient)
        form = ScheduleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.schedule_refill(by=request.user, patient=patient, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, "Refill appointment booked. The patient sees it now.")
                return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
        status = 422 if request.method == "POST" else 200
        return render(
            request,
            "portal/schedule.html",
            {
                "clinic": clinic_obj,
                "role": role,
                "patient": patient,
                "form": form,
                "latest": latest,
            },
            status=status,
        )


@login_required
@require_POST
def refill_status(
    request: HttpRequest, clinic: str, patient_id: int, appointment_id: int
) -> HttpResponse:
    clinic_obj, _, patient = _clinic_patient(request, clinic, patient_id)
    appointment = get_object_or_404(RefillAppointment, pk=appointment_id, patient=patient)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose done or cancelled.")
    else:
        try:
            services.set_appointment_status(
                by=request.user, appointment=appointment, **form.cleaned_data
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Appointment updated. It is in the audit log.")
    return redirect("patient-detail", clinic=clinic_obj.slug, patient_id=patient.pk)
