"""Every write of the portal goes through these functions.

Each takes the acting user as keyword-only ``by`` (``None`` only where the actor is not
logged in yet: accepting an invitation, reading the calendar feed), checks the role in the
patient's clinic or the portal account (PermissionDenied / Http404), validates
(ValidationError by field; nothing is written) and writes the change and its audit event in
one transaction.

Each audit event's ``details["event"]`` also names what happened, in the same words as
its action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.accounts.roles import ADMIN, CLINICAL, require_role
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.patients.models import Patient, PatientStatus
from openidds.web.portal import info, tokens
from openidds.web.portal.access import portal_account, require_patient_self
from openidds.web.portal.models import (
    AppointmentStatus,
    CalendarFeed,
    ClinicContact,
    Invitation,
    PortalAccount,
    RefillAppointment,
    Relation,
)

#: Who sees the clinic's portal page (invitations and accounts of its patients).
PORTAL_ADMIN_VIEWERS = frozenset({Role.PHYSICIAN, Role.NURSE, Role.CLINIC_ADMIN})
#: Clocks differ; an appointment up to this far in the past is "now", not "in the past".
CLOCK_SKEW = timedelta(minutes=5)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _lock_patient(patient: Patient) -> None:
    Patient.objects.select_for_update().filter(pk=patient.pk).first()


# -- invitations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its secrets, shown once to whoever made it."""

    invitation: Invitation
    code: str  # formatted for reading: ABCD-EFGH-JKMN
    token: str  # for the link /portal/invitation/?t=<token>


def _issue(*, by: Any, patient: Patient, relation: str, invitee_name: str = "") -> IssuedInvitation:
    code = tokens.new_code(info.invitation_code_length())
    token = tokens.new_token()
    invitation = Invitation.objects.create(
        patient=patient,
        relation=relation,
        invitee_name=invitee_name,
        code_hash=tokens.hash_code(code),
        token_hash=tokens.hash_token(token),
        created_by=by,
        expires_at=timezone.now() + timedelta(days=info.invitation_valid_days()),
    )
    return IssuedInvitation(invitation, tokens.format_code(code), token)


def _withdraw_pending(*, by: Any, patient: Patient, relation: str, why: str) -> None:
    now = timezone.now()
    pending = Invitation.objects.filter(
        patient=patient,
        relation=relation,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now,
    )
    for invitation in pending:
        invitation.revoked_at = now
        invitation.revoked_by = by
        invitation.save(update_fields=["revoked_at", "revoked_by"])
        record(
            by=by,
            action=Action.INVITATION_REVOKED,
            clinic=patient.clinic,
            patient=patient,
            obj=invitation,
            details={"relation": relation, "why": why},
        )


@transaction.atomic
def invite_patient(*, by: Any, patient: Patient) -> IssuedInvitation:
    """A portal invitation for the patient (physician or nurse of the patient's clinic).

    A pending invitation of the patient is withdrawn (the new one replaces it)."""
    require_role(by, patient.clinic, CLINICAL)
    _lock_patient(patient)
    patient.refresh_from_db()
    if patient.status != PatientStatus.ACTIVE:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"the patient is {patient.get_status_display().lower()}"]}
        )
    if PortalAccount.objects.filter(
        patient=patient, relation=Relation.PATIENT, revoked_at__isnull=True
    ).exists():
        raise ValidationError(
            {NON_FIELD_ERRORS: ["the patient already has a portal account; revoke it first"]}
        )
    _withdraw_pending(by=by, patient=patient, relation=Relation.PATIENT, why="replaced")
    issued = _issue(by=by, patient=patient, relation=Relation.PATIENT)
    record(
        by=by,
        action=Action.INVITATION_CREATED,
        clinic=patient.clinic,
        patient=patient,
        obj=issued.invitation,
        details={
            "relation": Relation.PATIENT,
            "expires_at": _iso(issued.invitation.expires_at),
        },
    )
    return issued


@transaction.atomic
def invite_caregiver(*, by: Any, patient_id: int, name: str) -> IssuedInvitation:
    """The patient invites one caregiver (read access and diary entries).

    Refused while a caregiver has access; a pending caregiver invitation is replaced."""
    account = require_patient_self(by, patient_id)
    patient = account.patient
    _lock_patient(patient)
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["give the caregiver's name"]
    elif len(name) > 200:
        errors["name"] = ["at most 200 characters"]
    elif "\x00" in name:
        errors["name"] = ["contains a NUL character"]
    if PortalAccount.objects.filter(
        patient=patient, relation=Relation.CAREGIVER, revoked_at__isnull=True
    ).exists():
        errors[NON_FIELD_ERRORS] = [
            "you already have a caregiver with access; revoke that access first"
        ]
    if errors:
        raise ValidationError(errors)
    _withdraw_pending(by=by, patient=patient, relation=Relation.CAREGIVER, why="replaced")
    issued = _issue(by=by, patient=patient, relation=Relation.CAREGIVER, invitee_name=name)
    record(
        by=by,
        action=Action.CAREGIVER_INVITED,
        clinic=patient.clinic,
        patient=patient,
        obj=issued.invitation,
        details={"name": name, "expires_at": _iso(issued.invitation.expires_at)},
    )
    return issued


@transaction.atomic
def revoke_invitation(*, by: Any, invitation: Invitation) -> Invitation:
    """Withdraw a pending invitation: the clinic (physician, nurse) any of its patients',
    the patient their caregiver's."""
    patient = invitation.patient
    if invitation.relation == Relation.CAREGIVER and _is_portal_patient(by, patient):
        require_patient_self(by, patient.pk)
    else:
        require_role(by, patient.clinic, CLINICAL)
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    status = locked.status
    if status != "pending":
        raise ValidationError({NON_FIELD_ERRORS: [f"this invitation is {status} already"]})
    locked.revoked_at = timezone.now()
    locked.revoked_by = by
    locked.save(update_fields=["revoked_at", "revoked_by"])
    record(
        by=by,
        action=Action.INVITATION_REVOKED,
        clinic=patient.clinic,
        patient=patient,
        obj=locked,
        details={"relation": locked.relation},
    )
    return locked


def _is_portal_patient(user: Any, patient: Patient) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return PortalAccount.objects.filter(
        user_id=user.pk, patient=patient, relation=Relation.PATIENT, revoked_at__isnull=True
    ).exists()


@transaction.atomic
def revoke_account(*, by: Any, account: PortalAccount) -> PortalAccount:
    """End a portal account: the clinic (physician, nurse) any account of its patients,
    the patient their caregiver's. The account's calendar feeds stop working too."""
    patient = account.patient
    if account.relation == Relation.CAREGIVER and _is_portal_patient(by, patient):
        require_patient_self(by, patient.pk)
    else:
        require_role(by, patient.clinic, CLINICAL)
    locked = PortalAccount.objects.select_for_update().get(pk=account.pk)
    if locked.revoked_at is not None:
        raise ValidationError({NON_FIELD_ERRORS: ["this access is revoked already"]})
    now = timezone.now()
    locked.revoked_at = now
    locked.save(update_fields=["revoked_at"])
    CalendarFeed.objects.filter(account=locked, revoked_at__isnull=True).update(revoked_at=now)
    # The clinic membership goes with the last live account of the user in that clinic.
    if not PortalAccount.objects.filter(
        user_id=locked.user_id, patient__clinic=patient.clinic, revoked_at__isnull=True
    ).exists():
        Membership.objects.filter(
            user_id=locked.user_id,
            clinic=patient.clinic,
            role__in=[Role.PATIENT, Role.CAREGIVER],
        ).delete()
    if locked.relation == Relation.CAREGIVER:
        action = Action.CAREGIVER_REVOKED
    else:
        action = Action.PORTAL_ACCESS_REVOKED
    record(
        by=by,
        action=action,
        clinic=patient.clinic,
        patient=patient,
        obj=locked,
        details={
            "event": "portal_access_revoked",
            "relation": locked.relation,
            "user": locked.user.get_username(),
        },
    )
    return locked


def find_invitation(*, code: str = "", token: str = "") -> Invitation | None:
    """The invitation of a typed code or a link's token (any status), or None."""
    if token:
        return (
            Invitation.objects.filter(token_hash=tokens.hash_token(token))
            .select_related("patient", "patient__clinic")
            .first()
        )
    if tokens.normalise_code(code):
        return (
            Invitation.objects.filter(code_hash=tokens.hash_code(code))
            .select_related("patient", "patient__clinic")
            .first()
        )
    return None


_STATUS_MESSAGES = {
    "accepted": "this invitation has been used already: log in with the account made with it",
    "withdrawn": "this invitation was withdrawn: ask for a new one",
    "expired": "this invitation has expired: ask for a new one",
}


def check_invitation(*, code: str = "", token: str = "") -> Invitation:
    """The pending invitation of the code or token; ValidationError (field ``code``)."""
    invitation = find_invitation(code=code, token=token)
    if invitation is None:
        raise ValidationError(
            {"code": ["no invitation has this code: check it (letters and digits)"]}
        )
    status = invitation.status
    if status != "pending":
        raise ValidationError({"code": [_STATUS_MESSAGES[status]]})
    return invitation


@transaction.atomic
def accept_invitation(
    *,
    by: Any = None,
    code: str = "",
    token: str = "",
    username: str,
    password: str,
    password_again: str,
    email: str = "",
) -> PortalAccount:
    """Make the invitee's log-in: user name, password (Django's validators), the clinic
    membership (patient or caregiver) and the portal account. Single use, under a lock.

    ``by`` must be anonymous: a logged-in user logs out first (one person, one log-in)."""
    if by is not None and getattr(by, "is_authenticated", False):
        raise PermissionDenied("log out first: an invitation makes a new log-in")
    invitation = check_invitation(code=code, token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != "pending":  # used, withdrawn or expired meanwhile
        raise ValidationError({"code": [_STATUS_MESSAGES[invitation.status]]})
    patient = Patient.objects.select_related("clinic").get(pk=invitation.patient_id)
    errors: dict[str, list[str]] = {}
    username = (username or "").strip()
    if not username:
        errors["username"] = ["choose a user name"]
    elif len(username) > 150:
        errors["username"] = ["at most 150 characters"]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            errors["username"] = list(exc.messages)
        else:
            if User.objects.filter(username__iexact=username).exists():
                errors["username"] = ["this user name is taken: choose another"]
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = ["not an e-mail address"]
    if not password:
        errors["password"] = ["choose a password"]
    elif password != password_again:
        errors["password_again"] = ["the two passwords differ"]
    else:
        candidate = User(username=username, email=email)
        try:
            password_validation.validate_password(password, candidate)
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    user = User(username=username, email=email)
    if invitation.relation == Relation.CAREGIVER:
        user.display_name = invitation.invitee_name
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # the same name taken at the same moment
        raise ValidationError({"username": ["this user name is taken: choose another"]}) from exc
    role = Role.PATIENT if invitation.relation == Relation.PATIENT else Role.CAREGIVER
    Membership.objects.create(user=user, clinic=patient.clinic, role=role)
    try:
        with transaction.atomic():
            account = PortalAccount.objects.create(
                user=user, patient=patient, relation=invitation.relation
            )
    except IntegrityError as exc:  # a live patient account appeared meanwhile
        raise ValidationError(
            {NON_FIELD_ERRORS: ["this patient already has a portal account"]}
        ) from exc
    invitation.accepted_at = timezone.now()
    invitation.account = account
    invitation.save(update_fields=["accepted_at", "account"])
    record(
        by=user,
        action=Action.INVITATION_ACCEPTED,
        clinic=patient.clinic,
        patient=patient,
        obj=account,
        details={"relation": invitation.relation, "invitation": invitation.pk},
    )
    return account


# -- refill appointments ---------------------------------------------------------------------


def latest_safe_refill(patient: Patient, at: datetime | None = None) -> datetime | None:
    """The twin's latest safe refill date (``forecast.recommended_refill``) of the active
    implant, or None (no implant, no forecast, or the twin cannot replay it)."""
    from openidds.web.implants.services import active_implant
    from openidds.web.implants.twin import pump_state

    implant = active_implant(patient)
    if implant is None:
        return None
    now = at or timezone.now()
    state = pump_state(implant, max(now, implant.implanted_at))
    if state.error:
        return None
    return state.forecast.get("recommended_refill")


def appointment_errors(
    *,
    starts_at: Any,
    now: datetime,
    latest_safe: datetime | None,
    reason: str,
) -> dict[str, list[str]]:
    """The safety rule of a refill appointment (pure, for the property tests): in the
    future, and not after the latest safe date unless a written reason is given."""
    errors: dict[str, list[str]] = {}
    if not isinstance(starts_at, datetime):
        errors["starts_at"] = ["a date and time is required"]
        return errors
    if starts_at.tzinfo is None:
        errors["starts_at"] = ["give the time zone (an aware date and time)"]
        return errors
    if starts_at < now - CLOCK_SKEW:
        errors["starts_at"] = ["this lies in the past"]
    elif starts_at > now + timedelta(days=366):
        errors["starts_at"] = ["more than a year ahead: check the date"]
    elif latest_safe is not None and starts_at > latest_safe and not reason.strip():
        errors["reason_after_latest_safe"] = [
            "this is after the latest safe refill date "
            f"({latest_safe.astimezone(UTC):%Y-%m-%d %H:%M} UTC): the reservoir would reach "
            "its low-reservoir alarm before the visit. Choose an earlier time, or give the "
            "reason for this one."
        ]
    if len(reason) > 500:
        errors["reason_after_latest_safe"] = ["at most 500 characters"]
    return errors


@transaction.atomic
def schedule_refill(
    *,
    by: Any,
    patient: Patient,
    starts_at: Any,
    note: str = "",
    reason_after_latest_safe: str = "",
) -> RefillAppointment:
    """Book a refill visit (physician or nurse). The twin's latest safe date is recorded
    with it; a later time needs a written reason (audited)."""
    require_role(by, patient.clinic, CLINICAL)
    _lock_patient(patient)
    now = timezone.now()
    note = (note or "").strip()
    reason = (reason_after_latest_safe or "").strip()
    latest = latest_safe_refill(patient, now)
    errors = appointment_errors(starts_at=starts_at, now=now, latest_safe=latest, reason=reason)
    if len(note) > 200:
        errors["note"] = ["at most 200 characters"]
    from openidds.web.implants.services import active_implant

    if active_implant(patient) is None:
        errors[NON_FIELD_ERRORS] = ["the patient has no active implant"]
    if errors:
        raise ValidationError(errors)
    after_latest = latest is not None and starts_at > latest
    appointment = RefillAppointment.objects.create(
        patient=patient,
        starts_at=starts_at,
        note=note,
        latest_safe_at=latest,
        reason_after_latest_safe=reason if after_latest else "",
        scheduled_by=by,
    )
    record(
        by=by,
        action=Action.REFILL_APPOINTMENT_SCHEDULED,
        clinic=patient.clinic,
        patient=patient,
        obj=appointment,
        details={
            "event": "refill_appointment_scheduled",
            "starts_at": _iso(starts_at),
            "latest_safe_at": _iso(latest),
            "after_latest_safe": after_latest,
            "reason": appointment.reason_after_latest_safe,
            "note": note,
        },
    )
    return appointment


@transaction.atomic
def set_appointment_status(
    *, by: Any, appointment: RefillAppointment, status: str, reason: str = ""
) -> RefillAppointment:
    """Mark a scheduled appointment done or cancelled (physician or nurse); reminders for
    it stop."""
    patient = appointment.patient
    require_role(by, patient.clinic, CLINICAL)
    locked = RefillAppointment.objects.select_for_update().get(pk=appointment.pk)
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if status not in (AppointmentStatus.DONE, AppointmentStatus.CANCELLED):
        errors["status"] = ["one of done, cancelled"]
    if locked.status != AppointmentStatus.SCHEDULED:
        errors[NON_FIELD_ERRORS] = [f"this appointment is {locked.get_status_display().lower()}"]
    if len(reason) > 500:
        errors["reason"] = ["at most 500 characters"]
    if errors:
        raise ValidationError(errors)
    old = locked.status
    locked.status = status
    locked.status_changed_at = timezone.now()
    locked.status_changed_by = by
    locked.status_reason = reason
    locked.save(update_fields=["status", "status_changed_at", "status_changed_by", "status_reason"])
    record(
        by=by,
        action=Action.REFILL_APPOINTMENT_CHANGED,
        clinic=patient.clinic,
        patient=patient,
        obj=locked,
        details={
            "event": "refill_appointment_status",
            "old": old,
            "new": status,
            "reason": reason,
        },
    )
    return locked


def upcoming_appointments(patient: Patient, now: datetime | None = None) -> list[RefillAppointment]:
    now = now or timezone.now()
    return list(
        RefillAppointment.objects.filter(
            patient=patient, status=AppointmentStatus.SCHEDULED, starts_at__gte=now - CLOCK_SKEW
        ).order_by("starts_at", "id")
    )


# -- calendar feed ---------------------------------------------------------------------------


@transaction.atomic
def new_calendar_feed(*, by: Any, patient_id: int) -> str:
    """A new secret feed address for the user's account of the patient; the old one stops
    working. Returns the token (shown once; only its hash is kept)."""
    account = portal_account(by, patient_id)
    PortalAccount.objects.select_for_update().filter(pk=account.pk).first()
    now = timezone.now()
    replaced = CalendarFeed.objects.filter(account=account, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token = tokens.new_token()
    feed = CalendarFeed.objects.create(account=account, token_hash=tokens.hash_token(token))
    record(
        by=by,
        action=Action.CALENDAR_FEED_CREATED,
        clinic=account.patient.clinic,
        patient=account.patient,
        obj=feed,
        details={"event": "calendar_feed_created", "replaced": replaced},
    )
    return token


@transaction.atomic
def revoke_calendar_feed(*, by: Any, patient_id: int) -> int:
    """Stop the user's feed address for the patient. Returns how many were live (0 or 1)."""
    account = portal_account(by, patient_id)
    revoked = CalendarFeed.objects.filter(account=account, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    record(
        by=by,
        action=Action.CALENDAR_FEED_REVOKED,
        clinic=account.patient.clinic,
        patient=account.patient,
        details={"event": "calendar_feed_revoked", "revoked": revoked},
    )
    return revoked


def live_feed(account: PortalAccount) -> CalendarFeed | None:
    return CalendarFeed.objects.filter(account=account, revoked_at__isnull=True).first()


@transaction.atomic
def feed_account(token: str) -> PortalAccount | None:
    """The live account of a feed token (audited as a calendar download), or None."""
    if not token or len(token) > 100:
        return None
    feed = (
        CalendarFeed.objects.filter(
            token_hash=tokens.hash_token(token),
            revoked_at__isnull=True,
            account__revoked_at__isnull=True,
            account__user__is_active=True,
        )
        .select_related("account", "account__patient", "account__patient__clinic", "account__user")
        .first()
    )
    if feed is None:
        return None
    account = feed.account
    record(
        by=None,
        actor_username=account.user.get_username(),
        action=Action.CALENDAR_DOWNLOADED,
        clinic=account.patient.clinic,
        patient=account.patient,
        obj=feed,
        details={"via": "feed"},
    )
    return account


# -- the clinic's contact details -------------------------------------------------------------

CONTACT_FIELDS = ("phone_24h", "phone_office", "address", "email", "emergency_note")


@transaction.atomic
def save_clinic_contact(*, by: Any, clinic: Clinic, **fields: Any) -> ClinicContact:
    """The clinic's contact details for the portal and the wallet card (clinic admin)."""
    require_role(by, clinic, ADMIN)
    unknown = sorted(set(fields) - set(CONTACT_FIELDS))
    if unknown:
        raise ValidationError({name: ["this field cannot be set"] for name in unknown})
    contact = ClinicContact.objects.select_for_update().filter(clinic=clinic).first()
    old = {name: getattr(contact, name) for name in CONTACT_FIELDS} if contact else {}
    candidate = ClinicContact(clinic=clinic, updated_by=by)
    if contact is not None:
        candidate.pk = contact.pk
    for name in CONTACT_FIELDS:
        value = fields.get(name, getattr(contact, name, "") if contact else "")
        setattr(candidate, name, (value or "").strip() if isinstance(value, str) else value)
    errors: dict[str, list[str]] = {}
    try:
        candidate.full_clean(exclude=["clinic", "updated_by"], validate_unique=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    phone = candidate.phone_24h
    if phone and sum(ch.isdigit() for ch in phone) < 4:
        errors.setdefault("phone_24h", []).append("not a phone number")
    for name in CONTACT_FIELDS:
        if "\x00" in str(getattr(candidate, name)):
            errors.setdefault(name, []).append("contains a NUL character")
    if errors:
        raise ValidationError(errors)
    candidate.save()
    new = {name: getattr(candidate, name) for name in CONTACT_FIELDS}
    record(
        by=by,
        action=Action.CLINIC_CONTACT_UPDATED,
        clinic=clinic,
        obj=candidate,
        details={"event": "clinic_contact_updated", "old": old, "new": new},
    )
    return candidate


def clinic_contact(clinic: Clinic) -> ClinicContact | None:
    return ClinicContact.objects.filter(clinic=clinic).first()


# -- reading the portal -------------------------------------------------------------------------


def record_portal_view(*, by: Any, account: PortalAccount, page: str) -> None:
    """Every portal page a user opens is an audit event (like a chart view)."""
    record(
        by=by,
        action=Action.PORTAL_VIEWED,
        clinic=account.patient.clinic,
        patient=account.patient,
        details={"page": page, "relation": account.relation},
    )
