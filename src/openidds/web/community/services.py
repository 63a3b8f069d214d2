"""Questions, stories and learning pages change only through these functions.

Each takes the acting user as keyword-only ``by``, checks who they are for the patient or
clinic (a portal account, or a role in the clinic), validates (ValidationError by field;
nothing is written) and writes the change and its audit event in one transaction.

Who sees a question:

- the patient and their caregivers (live portal accounts of the patient): all of the
  patient's questions;
- physicians and nurses of the patient's clinic: the questions addressed to the clinic;
- the manufacturer's support (role ``support`` in the patient's clinic): the questions
  addressed to the support, and of the patient only what they chose to share (``shared``,
  copied when asked) — never the chart, the name unless shared, or anything else.

Anyone else gets 404 (the question is not revealed); a clinic admin of the clinic gets 403.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import Http404
from django.utils import timezone

from openidds.web.accounts.models import Clinic, Membership, Role
from openidds.web.accounts.roles import CLINICAL, clinics_with_role, require_role, role_in
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.community import learn
from openidds.web.community.models import (
    AuthorRole,
    LearnPageVersion,
    Message,
    NameChoice,
    PublishScope,
    Question,
    QuestionNotification,
    QuestionStatus,
    Recipient,
    Story,
    StoryStatus,
)
from openidds.web.patients.models import Patient
from openidds.web.portal.access import live_accounts, portal_account
from openidds.web.portal.models import PortalAccount, PortalNotification, Relation

logger = logging.getLogger(__name__)

#: Who answers the questions addressed to the clinic
CLINIC_ANSWERERS = frozenset(CLINICAL)
#: Who moderates stories
MODERATORS = frozenset({Role.PHYSICIAN, Role.NURSE, Role.CLINIC_ADMIN})
#: Who edits the clinic's learning pages
LEARN_EDITORS = frozenset({Role.CLINIC_ADMIN, Role.PHYSICIAN})

SUBJECT_MAX = 200
BODY_MAX = 5000
STORY_MAX = 20000
NOTE_MAX = 2000
LEARN_MAX = 50000

#: What a patient may share with the manufacturer's support, in the order of the form
SHARE_LABELS: dict[str, str] = {
    "name": "My name",
    "pump_model": "Pump model",
    "pump_serial": "Pump serial number",
    "implant_date": "Implant date",
    "drugs": "Drug(s), concentration and daily dose",
}
SHARE_KEYS = tuple(SHARE_LABELS)


def _now() -> datetime:
    return timezone.now()


def _text(errors: dict[str, list[str]], name: str, value: Any, most: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        errors.setdefault(name, []).append("this field is required")
    elif len(text) > most:
        errors.setdefault(name, []).append(f"at most {most} characters (this has {len(text)})")
    return text


# -- what can be shared with the support ---------------------------------------------------


def shareable(patient: Patient) -> dict[str, str]:
    """What the patient could share now, by key, as the support would read it; keys the
    clinic has not recorded (no active implant, a pump the twin cannot replay) are absent."""
    from openidds.web.implants.models import pump_catalog
    from openidds.web.implants.services import active_implant
    from openidds.web.implants.twin import pump_state

    values = {"name": patient.name}
    implant = active_implant(patient)
    if implant is None:
        return values
    model = pump_catalog().models.get(implant.pump_model)
    values["pump_model"] = model.name if model is not None else implant.pump_model
    values["pump_serial"] = implant.serial
    local = implant.implanted_at.astimezone(ZoneInfo(patient.time_zone))
    values["implant_date"] = local.date().isoformat()
    now = _now()
    if now >= implant.implanted_at:
        state = pump_state(implant, now)
        if not state.error and state.drugs:
            values["drugs"] = "; ".join(f"{d.words} ({d.concentration_text})" for d in state.drugs)
    return values


def support_serves(clinic: Clinic) -> bool:
    """Whether some active user has the support role in the clinic."""
    return Membership.objects.filter(
        clinic=clinic, role=Role.SUPPORT, is_active=True, user__is_active=True
    ).exists()


# -- who is asking about a question ---------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """How a user takes part in a thread."""

    kind: str  # "patient", "clinic" or "support"
    author_role: str
    account: PortalAccount | None = None


def side_of(by: Any, question: Question) -> Side:
    """The user's side of the thread; Http404 if they may not know it, PermissionDenied for
    a member of the clinic without a role that reads the clinic's questions."""
    if by is None or not getattr(by, "is_authenticated", False) or not by.is_active:
        raise Http404("no such question")
    account = live_accounts(by).filter(patient_id=question.patient_id).first()
    if account is not None:
        author = (
            AuthorRole.CAREGIVER if account.relation == Relation.CAREGIVER else AuthorRole.PATIENT
        )
        return Side("patient", author, account)
    role = role_in(by, question.clinic)
    if question.recipient == Recipient.CLINIC:
        if role in CLINIC_ANSWERERS:
            return Side("clinic", str(role))
        if role == Role.CLINIC_ADMIN:
            raise PermissionDenied("the clinic's questions are read by physicians and nurses")
    elif role == Role.SUPPORT:
        return Side("support", AuthorRole.SUPPORT)
    raise Http404("no such question")


def find_question(*, by: Any, question_id: int, kind: str | None = None) -> tuple[Question, Side]:
    """The question and the user's side; 404 when not theirs (or not of ``kind``)."""
    question = Question.objects.select_related("clinic", "patient").filter(pk=question_id).first()
    if question is None:
        raise Http404("no such question")
    side = side_of(by, question)
    if kind is not None and side.kind != kind:
        raise Http404("no such question")
    return question, side


# -- questions: writes ---------------------------------------------------------------------


@transaction.atomic
def ask_question(
    *,
    by: Any,
    patient: Patient,
    recipient: str,
    subject: str,
    body: str,
    share: Iterable[str] = (),
) -> Question:
    """A patient or caregiver asks the clinic or the support a question."""
    account = portal_account(by, patient.pk)
    errors: dict[str, list[str]] = {}
    subject = _text(errors, "subject", subject, SUBJECT_MAX)
    body = _text(errors, "body", body, BODY_MAX)
    share_keys = list(dict.fromkeys(share))
    shared: dict[str, str] = {}
    if recipient not in Recipient.values:
        errors["recipient"] = ["choose the clinic or the manufacturer's support"]
    elif recipient == Recipient.CLINIC:
        if share_keys:
            errors["share"] = [
                "the clinic has your record; choose what to share only for the support"
            ]
    else:
        if not support_serves(patient.clinic):
            errors["recipient"] = [
                "no manufacturer support serves your clinic in this portal yet; ask your clinic"
            ]
        unknown = [k for k in share_keys if k not in SHARE_LABELS]
        if unknown:
            errors["share"] = [f"unknown: {', '.join(sorted(unknown))}"]
        else:
            available = shareable(patient)
            missing = [k for k in share_keys if k not in available]
            if missing:
                errors["share"] = [
                    "your clinic has not recorded: "
                    + ", ".join(SHARE_LABELS[k].lower() for k in missing)
                ]
            shared = {k: available[k] for k in SHARE_KEYS if k in share_keys and k in available}
    if errors:
        raise ValidationError(errors)
    now = _now()
    author_role = (
        AuthorRole.CAREGIVER if account.relation == Relation.CAREGIVER else AuthorRole.PATIENT
    )
    question = Question.objects.create(
        patient=patient,
        clinic=patient.clinic,
        recipient=recipient,
        subject=subject,
        status=QuestionStatus.OPEN,
        shared=shared,
        asked_by=by,
        asked_as=author_role,
        created_at=now,
        waiting_since=now,
        last_message_at=now,
    )
    Message.objects.create(
        question=question, author=by, author_role=author_role, body=body, created_at=now
    )
    record(
        by=by,
        action=Action.QUESTION_ASKED,
        clinic=patient.clinic,
        patient=patient,
        obj=question,
        details={"recipient": recipient, "asked_as": author_role, "shared": sorted(shared)},
    )
    return question


@transaction.atomic
def write_message(*, by: Any, question: Question, body: str) -> Message:
    """A message in the thread: a follow-up from the patient's side (the question is open
    again) or an answer from the clinic or the support (answered; the patient is notified,
    once for this answer, in the portal and by e-mail)."""
    side = side_of(by, question)
    locked = Question.objects.select_for_update().get(pk=question.pk)
    errors: dict[str, list[str]] = {}
    body = _text(errors, "body", body, BODY_MAX)
    if locked.status == QuestionStatus.CLOSED:
        errors.setdefault("body", []).append("this question is closed; ask a new question")
    if errors:
        raise ValidationError(errors)
    now = _now()
    message = Message.objects.create(
        question=locked, author=by, author_role=side.author_role, body=body, created_at=now
    )
    locked.last_message_at = now
    if side.kind == "patient":
        locked.status = QuestionStatus.OPEN
        locked.waiting_since = locked.waiting_since or now
        action = Action.QUESTION_ASKED
        details: dict[str, Any] = {"follow_up": True, "asked_as": side.author_role}
    else:
        locked.status = QuestionStatus.ANSWERED
        locked.waiting_since = None
        action = Action.QUESTION_ANSWERED
        details = {"by_role": side.author_role}
    locked.save(update_fields=["status", "waiting_since", "last_message_at"])
    if side.kind != "patient":
        details["notified"] = _notify_answer(locked, message)
    record(
        by=by,
        action=action,
        clinic=locked.clinic,
        patient=locked.patient,
        obj=locked,
        details=details,
    )
    question.status, question.waiting_since = locked.status, locked.waiting_since
    question.last_message_at = locked.last_message_at
    return message


def _notify_answer(question: Question, message: Message) -> list[str]:
    """One notification for this answer (the unique message makes a second one
    impossible) and, after the commit, one e-mail to each portal user of the patient who
    has an address. The e-mail says only that there is an answer, not what it says."""
    addresses = sorted(
        {
            a.user.email
            for a in live_accounts_of_patient(question.patient_id)
            if a.user.email and a.user.is_active
        }
    )
    QuestionNotification.objects.create(
        patient_id=question.patient_id,
        question=question,
        message=message,
        created_at=message.created_at,
        emailed_to=addresses,
    )
    who = "Your clinic" if question.recipient == Recipient.CLINIC else "The product support"
    # The portal's own notification list (beside the reminders); the row above is the claim
    # that makes this happen once per answer.
    PortalNotification.objects.create(
        patient_id=question.patient_id,
        text=f"{who} answered your question “{question.subject[:300]}”. Open Questions to read it.",
    )
    if addresses:
        mail = EmailMessage(
            subject="OpenIDDS: your question has an answer",
            body=(
                f"Hello,\n\n{who} answered a question in your OpenIDDS patient "
                "portal. Log in and open Questions to read it.\n\nThis message contains no "
                "health information on purpose. If you did not expect it, tell your clinic.\n"
            ),
            to=addresses,
        )
        transaction.on_commit(lambda: _send(mail, question.pk))
    return addresses


def _send(mail: EmailMessage, question_id: int) -> None:
    """Send after the commit; a mail server that is down loses the e-mail, not the answer
    (the portal notification is written), and says so in the log."""
    try:
        mail.send()
    except Exception:
        logger.exception("answer notification e-mail for question %s not sent", question_id)


def live_accounts_of_patient(patient_id: int) -> QuerySet[PortalAccount]:
    return PortalAccount.objects.filter(
        patient_id=patient_id, revoked_at__isnull=True
    ).select_related("user")


@transaction.atomic
def close_question(*, by: Any, question: Question) -> Question:
    """Close the thread (either side); a closed question takes no more messages."""
    side = side_of(by, question)
    locked = Question.objects.select_for_update().get(pk=question.pk)
    if locked.status == QuestionStatus.CLOSED:
        raise ValidationError({"status": ["this question is already closed"]})
    now = _now()
    locked.status = QuestionStatus.CLOSED
    locked.waiting_since = None
    locked.closed_at = now
    locked.closed_by = by
    locked.save(update_fields=["status", "waiting_since", "closed_at", "closed_by"])
    record(
        by=by,
        action=Action.QUESTION_CLOSED,
        clinic=locked.clinic,
        patient=locked.patient,
        obj=locked,
        details={"by_role": side.author_role},
    )
    return locked


# -- questions: reads ----------------------------------------------------------------------


@transaction.atomic
def read_thread(*, by: Any, question: Question) -> tuple[Side, list[Message]]:
    """The messages of a thread for the user (the reading is audited; the patient's side
    marks the answers' notifications as read)."""
    side = side_of(by, question)
    messages = list(question.messages.select_related("author"))
    if side.kind == "patient":
        QuestionNotification.objects.filter(question=question, read_at__isnull=True).update(
            read_at=_now()
        )
    record(
        by=by,
        action=Action.QUESTION_VIEWED,
        clinic=question.clinic,
        patient=question.patient,
        obj=question,
        details={"as": side.kind},
    )
    return side, messages


def portal_questions(*, by: Any, patient: Patient) -> list[Question]:
    """The patient's questions (both recipients), newest activity first."""
    portal_account(by, patient.pk)
    return list(Question.objects.filter(patient=patient).order_by("-last_message_at", "-id"))


def portal_notifications(*, by: Any, patient: Patient, limit: int = 20) -> list[Any]:
    portal_account(by, patient.pk)
    return list(
        QuestionNotification.objects.filter(patient=patient)
        .select_related("question", "message__author")
        .order_by("-created_at", "-id")[:limit]
    )


def clinic_questions(*, by: Any, clinic: Clinic, status: str = "") -> list[Question]:
    """The questions addressed to the clinic: waiting ones first, longest waiting first."""
    require_role(by, clinic, CLINIC_ANSWERERS)
    questions = Question.objects.filter(clinic=clinic, recipient=Recipient.CLINIC)
    if status:
        questions = questions.filter(status=status)
    return sorted(
        questions.select_related("patient"),
        key=lambda q: (q.status != QuestionStatus.OPEN, _sort_time(q)),
    )


def _sort_time(question: Question) -> float:
    if question.status == QuestionStatus.OPEN and question.waiting_since is not None:
        return question.waiting_since.timestamp()
    return -question.last_message_at.timestamp()


def patient_questions_for_clinic(*, by: Any, patient: Patient) -> list[Question]:
    """The chart panel: the patient's questions to the clinic (physician, nurse)."""
    require_role(by, patient.clinic, CLINIC_ANSWERERS)
    return sorted(
        Question.objects.filter(patient=patient, recipient=Recipient.CLINIC),
        key=lambda q: (q.status != QuestionStatus.OPEN, _sort_time(q)),
    )


def support_clinics(by: Any) -> QuerySet[Clinic]:
    """The clinics whose patients' support questions the user answers."""
    return clinics_with_role(by, {Role.SUPPORT})


def support_questions(*, by: Any, status: str = "") -> list[Question]:
    """The questions routed to the support of the clinics the user serves. Nothing of the
    patient is loaded: the support's pages and API show ``shared`` only."""
    clinics = support_clinics(by)
    if not clinics.exists():
        raise PermissionDenied("this needs the manufacturer support role")
    questions = Question.objects.filter(recipient=Recipient.SUPPORT, clinic__in=clinics)
    if status:
        questions = questions.filter(status=status)
    return sorted(
        questions.only(
            "id", "subject", "status", "shared", "created_at", "waiting_since", "last_message_at"
        ),
        key=lambda q: (q.status != QuestionStatus.OPEN, _sort_time(q)),
    )


def author_label(message: Message, side: Side) -> str:
    """How an author is named to the reader. The support never reads a name of the
    patient's side (a caregiver's name could identify the patient)."""
    if message.from_patient_side:
        if side.kind == "support":
            return message.get_author_role_display()
        return f"{message.author} ({message.get_author_role_display().lower()})"
    return f"{message.author} ({message.get_author_role_display().lower()})"


# -- the worklist section ------------------------------------------------------------------


def unanswered_items(clinic: Clinic, now: datetime) -> list[Any]:
    """Worklist: questions to the clinic waiting for an answer, longest waiting first. One
    query, whatever the number of patients."""
    from django.urls import reverse

    from openidds.web.worklists.registry import WorklistItem

    rows = (
        Question.objects.filter(
            clinic=clinic, recipient=Recipient.CLINIC, status=QuestionStatus.OPEN
        )
        .select_related("patient")
        .order_by("waiting_since", "id")
    )
    items = []
    for q in rows:
        waited = now - q.waiting_since if q.waiting_since else None
        days = f", waiting {waited.days} d" if waited is not None and waited.days >= 1 else ""
        items.append(
            WorklistItem(
                patient_id=q.patient_id,
                patient_name=q.patient.name,
                mrn=q.patient.mrn,
                at=q.waiting_since,
                text=f"Question from the {q.asked_as}: “{q.subject}”{days}. Answer it.",
                urgent=False,
                time_zone=q.patient.time_zone,
                url=reverse("clinic-question", args=[clinic.slug, q.pk]),
            )
        )
    return items


# -- stories -------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def paragraphs(body: str) -> list[str]:
    """The paragraphs of a story: blocks separated by an empty line."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(body.replace("\r\n", "\n")) if p.strip()]


def publishable_text(body: str, scope: str, parts: Iterable[int]) -> str:
    paras = paragraphs(body)
    if scope == PublishScope.WHOLE:
        return "\n\n".join(paras)
    chosen = set(parts)
    return "\n\n".join(p for i, p in enumerate(paras) if i in chosen)


def display_name(full_name: str, choice: str) -> str:
    """The name a published story shows: ``Anna Becker``, ``Anna``, ``A. B.``,
    ``Anonymous``."""
    words = full_name.split()
    if choice == NameChoice.REAL_NAME:
        return " ".join(words)
    if choice == NameChoice.FIRST_NAME:
        return words[0] if words else "Anonymous"
    if choice == NameChoice.INITIALS:
        return " ".join(f"{w[0].upper()}." for w in words) or "Anonymous"
    return "Anonymous"


def _validate_story(
    title: Any, body: Any, scope: Any, parts: Any, name_choice: Any, submit: bool
) -> tuple[str, str, list[int]]:
    errors: dict[str, list[str]] = {}
    title = _text(errors, "title", title, SUBJECT_MAX)
    body = _text(errors, "body", body, STORY_MAX)
    chosen: list[int] = []
    if scope not in PublishScope.values:
        errors["scope"] = ["choose the whole text or the paragraphs you mark"]
    if name_choice not in NameChoice.values:
        errors["name_choice"] = ["choose how your name appears"]
    if scope == PublishScope.PARTS and "body" not in errors:
        count = len(paragraphs(body))
        try:
            chosen = sorted({int(p) for p in parts or ()})
        except (TypeError, ValueError):
            errors["parts"] = ["paragraph numbers are whole numbers"]
        else:
            if any(p < 0 or p >= count for p in chosen):
                errors["parts"] = [f"the story has paragraphs 0 to {count - 1}"]
            elif not chosen and submit:
                errors["parts"] = ["mark at least one paragraph that may be published"]
    if errors:
        raise ValidationError(errors)
    return title, body, chosen


@transaction.atomic
def save_story(
    *,
    by: Any,
    patient: Patient,
    title: str,
    body: str,
    scope: str,
    name_choice: str,
    parts: Iterable[int] = (),
    submit: bool = False,
    story: Story | None = None,
) -> Story:
    """Write or change the patient's story (the patient only, not a caregiver). ``submit``
    sends it to the clinic; otherwise it stays a draft. Changing a published story takes
    it off the public page until the clinic approves it again."""
    from openidds.web.portal.access import require_patient_self

    require_patient_self(by, patient.pk)
    now = _now()
    if story is not None:
        story = Story.objects.select_for_update().filter(pk=story.pk, patient=patient).first()
        if story is None:
            raise Http404("no such story")
        if story.status == StoryStatus.REJECTED:
            raise ValidationError({"status": ["the clinic declined this story; write a new one"]})
    title, body, chosen = _validate_story(title, body, scope, list(parts), name_choice, submit)
    if story is None:
        story = Story(patient=patient, clinic=patient.clinic, created_by=by, created_at=now)
    was = story.status or ""
    story.title, story.body, story.scope, story.name_choice = title, body, scope, name_choice
    story.parts = chosen
    story.status = StoryStatus.SUBMITTED if submit else StoryStatus.DRAFT
    story.published_name, story.published_text, story.published_at = "", "", None
    story.updated_at = now
    story.save()
    record(
        by=by,
        action=Action.STORY_SUBMITTED,
        clinic=patient.clinic,
        patient=patient,
        obj=story,
        details={
            "status": story.status,
            "was": was,
            "scope": scope,
            "parts": chosen,
            "name_choice": name_choice,
        },
    )
    return story


@transaction.atomic
def withdraw_story(*, by: Any, story: Story) -> Story:
    """The patient takes a story back: off the public page at once, whatever its status."""
    from openidds.web.portal.access import require_patient_self

    require_patient_self(by, story.patient_id)
    locked = Story.objects.select_for_update().get(pk=story.pk)
    if locked.status in {StoryStatus.WITHDRAWN, StoryStatus.REJECTED}:
        raise ValidationError({"status": [f"the story is {locked.get_status_display().lower()}"]})
    was = locked.status
    locked.status = StoryStatus.WITHDRAWN
    locked.published_name, locked.published_text, locked.published_at = "", "", None
    locked.updated_at = _now()
    locked.save()
    record(
        by=by,
        action=Action.STORY_WITHDRAWN,
        clinic=locked.clinic,
        patient=locked.patient,
        obj=locked,
        details={"status": StoryStatus.WITHDRAWN, "was": was},
    )
    return locked


DECISIONS = {
    "approve": StoryStatus.PUBLISHED,
    "changes": StoryStatus.CHANGES_REQUESTED,
    "reject": StoryStatus.REJECTED,
}


@transaction.atomic
def moderate_story(*, by: Any, story: Story, decision: str, note: str = "") -> Story:
    """Approve (publish what the patient chose under the name they chose), ask for changes
    or reject, with a note (required unless approving). Physician, nurse or clinic admin."""
    require_role(by, story.clinic, MODERATORS)
    locked = Story.objects.select_for_update().select_related("patient").get(pk=story.pk)
    errors: dict[str, list[str]] = {}
    note = note.strip() if isinstance(note, str) else ""
    if decision not in DECISIONS:
        errors["decision"] = ["approve, ask for changes, or reject"]
    elif decision != "approve" and not note:
        errors["note"] = ["tell the patient why (the note is shown to them)"]
    if len(note) > NOTE_MAX:
        errors["note"] = [f"at most {NOTE_MAX} characters"]
    if locked.status != StoryStatus.SUBMITTED:
        errors["status"] = [
            f"only a story sent for review can be moderated (this one is "
            f"{locked.get_status_display().lower()})"
        ]
    if errors:
        raise ValidationError(errors)
    now = _now()
    locked.status = DECISIONS[decision]
    locked.moderation_note = note
    locked.moderated_by = by
    locked.moderated_at = now
    if decision == "approve":
        locked.published_name = display_name(locked.patient.name, locked.name_choice)
        locked.published_text = publishable_text(locked.body, locked.scope, locked.parts)
        locked.published_at = now
    locked.save()
    record(
        by=by,
        action=Action.STORY_MODERATED,
        clinic=locked.clinic,
        patient=locked.patient,
        obj=locked,
        details={"decision": decision, "note": note, "status": locked.status},
    )
    return locked


def portal_stories(*, by: Any, patient: Patient) -> list[Story]:
    portal_account(by, patient.pk)
    return list(Story.objects.filter(patient=patient).order_by("-updated_at", "-id"))


def clinic_stories(*, by: Any, clinic: Clinic) -> list[Story]:
    """Stories of the clinic's patients that are not drafts; waiting for review first."""
    require_role(by, clinic, MODERATORS)
    stories = (
        Story.objects.filter(clinic=clinic)
        .exclude(status=StoryStatus.DRAFT)
        .select_related("patient")
    )
    return sorted(
        stories, key=lambda s: (s.status != StoryStatus.SUBMITTED, -s.updated_at.timestamp())
    )


def public_stories() -> QuerySet[Story]:
    """What the public page shows: published stories, their chosen text and name only."""
    return (
        Story.objects.filter(status=StoryStatus.PUBLISHED)
        .only("id", "title", "published_name", "published_text", "published_at")
        .order_by("-published_at", "-id")
    )


# -- learning pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class LearnPage:
    slug: str
    title: str
    body_markdown: str
    #: 0: the default text; otherwise the clinic's version number
    version: int
    edited_at: datetime | None = None

    @property
    def html(self) -> str:
        return learn.render_markdown(self.body_markdown)


def learn_pages(clinic: Clinic | None) -> list[LearnPage]:
    """Every learning page as the clinic's patients read it (the public: the defaults)."""
    current: dict[str, LearnPageVersion] = {}
    if clinic is not None:
        latest = (
            LearnPageVersion.objects.filter(clinic=clinic).values("slug").annotate(v=Max("version"))
        )
        wanted = {(row["slug"], row["v"]) for row in latest}
        for version in LearnPageVersion.objects.filter(
            clinic=clinic, slug__in=[s for s, _ in wanted]
        ):
            if (version.slug, version.version) in wanted:
                current[version.slug] = version
    pages = []
    for slug, default in learn.default_pages().items():
        own = current.get(slug)
        if own is not None:
            pages.append(LearnPage(slug, own.title, own.body_markdown, own.version, own.edited_at))
        else:
            pages.append(LearnPage(slug, default.title, default.body_markdown, 0))
    return pages


def learn_page(clinic: Clinic | None, slug: str) -> LearnPage:
    default = learn.default_pages().get(slug)
    if default is None:
        raise Http404("no such page")
    if clinic is not None:
        own = LearnPageVersion.objects.filter(clinic=clinic, slug=slug).order_by("-version").first()
        if own is not None:
            return LearnPage(slug, own.title, own.body_markdown, own.version, own.edited_at)
    return LearnPage(slug, default.title, default.body_markdown, 0)


def reader_clinic(user: Any) -> Clinic | None:
    """Whose version of the learning pages a reader sees: the clinic of their first portal
    account (patients and caregivers); everyone else (and the public) reads the defaults."""
    account = live_accounts(user).first()
    return account.patient.clinic if account is not None else None


@transaction.atomic
def update_learn_page(
    *, by: Any, clinic: Clinic, slug: str, title: str, body_markdown: str, note: str = ""
) -> LearnPageVersion:
    """A new version of the clinic's copy of a learning page (clinic admin, physician)."""
    require_role(by, clinic, LEARN_EDITORS)
    if slug not in learn.default_pages():
        raise Http404("no such page")
    errors: dict[str, list[str]] = {}
    title = _text(errors, "title", title, SUBJECT_MAX)
    body_markdown = _text(errors, "body_markdown", body_markdown, LEARN_MAX)
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > 300:
        errors["note"] = ["at most 300 characters"]
    current = learn_page(clinic, slug)
    if not errors and current.title == title and current.body_markdown.strip() == body_markdown:
        errors["body_markdown"] = ["nothing changed"]
    if errors:
        raise ValidationError(errors)
    last = (
        LearnPageVersion.objects.select_for_update()
        .filter(clinic=clinic, slug=slug)
        .aggregate(v=Max("version"))["v"]
        or 0
    )
    version = LearnPageVersion.objects.create(
        clinic=clinic,
        slug=slug,
        version=last + 1,
        title=title,
        body_markdown=body_markdown,
        edited_by=by,
        edited_at=_now(),
        note=note,
    )
    record(
        by=by,
        action=Action.LEARN_PAGE_UPDATED,
        clinic=clinic,
        obj=version,
        details={"slug": slug, "version": version.version, "note": note},
    )
    return version


def learn_history(*, by: Any, clinic: Clinic, slug: str) -> list[LearnPageVersion]:
    require_role(by, clinic, LEARN_EDITORS)
    if slug not in learn.default_pages():
        raise Http404("no such page")
    return list(
        LearnPageVersion.objects.filter(clinic=clinic, slug=slug)
        .select_related("edited_by")
        .order_by("-version")
    )
