"""API operations of questions, stories and learning pages,
mounted under ``/api/v1/`` by ``openidds.web.api``.

Portal users (patient, caregiver) under ``/portal/patients/{patient_id}/...``; the clinic
(physician, nurse) under ``/patients/{patient_id}/questions`` and ``/clinic-questions``;
the manufacturer's support under ``/support/questions`` (it reads only ``shared``); story
moderation under ``/stories/moderation``; published stories and learning pages without
log-in. The same service functions as the pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from openidds.web.accounts.roles import require_role
from openidds.web.api_common import ERRORS, clinic_for
from openidds.web.community import services
from openidds.web.community.models import (
    NameChoice,
    PublishScope,
    Question,
    QuestionStatus,
    Recipient,
    Story,
    StoryStatus,
)
from openidds.web.patients.models import Patient
from openidds.web.portal.access import portal_account

router = Router(tags=["community"])


# -- schemas -------------------------------------------------------------------------------


class MessageOut(Schema):
    author: str = Field(description="who wrote it, as the reader may know them")
    author_role: str
    body: str
    created_at: datetime


class QuestionSummary(Schema):
    id: int
    subject: str
    recipient: Recipient
    status: QuestionStatus
    created_at: datetime
    last_message_at: datetime
    waiting_since: datetime | None


class QuestionOut(QuestionSummary):
    shared: dict[str, str] = Field(description="what the patient shared with the support")
    messages: list[MessageOut]


class ClinicQuestionSummary(QuestionSummary):
    patient: int
    patient_name: str


class SupportQuestionSummary(Schema):
    """Nothing of the patient but what they chose to share."""

    id: int
    subject: str
    status: QuestionStatus
    created_at: datetime
    waiting_since: datetime | None
    shared: dict[str, str]


class SupportQuestionOut(SupportQuestionSummary):
    messages: list[MessageOut]


class AskIn(Schema):
    recipient: Recipient
    subject: str = Field(max_length=services.SUBJECT_MAX)
    body: str = Field(max_length=services.BODY_MAX)
    share: list[str] = Field(
        default_factory=list,
        description="only for the support: any of " + ", ".join(services.SHARE_KEYS),
    )


class MessageIn(Schema):
    body: str = Field(max_length=services.BODY_MAX)


class StoryIn(Schema):
    title: str = Field(max_length=services.SUBJECT_MAX)
    body: str = Field(max_length=services.STORY_MAX)
    scope: PublishScope
    parts: list[int] = Field(
        default_factory=list, description="paragraphs (from 0) that may be published"
    )
    name_choice: NameChoice
    submit: bool = Field(False, description="send to the clinic for review (else a draft)")


class StoryOut(Schema):
    id: int
    title: str
    body: str
    scope: PublishScope
    parts: list[int]
    name_choice: NameChoice
    status: StoryStatus
    moderation_note: str
    published_name: str
    published_text: str
    published_at: datetime | None
    updated_at: datetime


class ModerationStoryOut(StoryOut):
    patient: int
    name_preview: str


class ModerationIn(Schema):
    decision: str = Field(description="approve, changes or reject")
    note: str = Field("", max_length=services.NOTE_MAX)


class PublicStoryOut(Schema):
    id: int
    title: str
    name: str
    text: str
    published_at: datetime | None


class LearnPageOut(Schema):
    slug: str
    title: str
    version: int = Field(description="0: the default text; else the clinic's version")
    body_markdown: str
    html: str = Field(description="rendered and sanitised")


class LearnPageSummary(Schema):
    slug: str
    title: str
    version: int


class ClinicFilter(Schema):
    clinic: str = Field(description="slug of the clinic")


class StatusFilter(Schema):
    status: QuestionStatus | None = None


# -- helpers -------------------------------------------------------------------------------


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _messages(question: Question, side: services.Side, thread: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "author": services.author_label(m, side),
            "author_role": m.author_role,
            "body": m.body,
            "created_at": m.created_at,
        }
        for m in thread
    ]


def _question_out(request: HttpRequest, question: Question) -> dict[str, Any]:
    side, thread = services.read_thread(by=_user(request), question=question)
    return {
        "id": question.pk,
        "subject": question.subject,
        "recipient": question.recipient,
        "status": question.status,
        "created_at": question.created_at,
        "last_message_at": question.last_message_at,
        "waiting_since": question.waiting_since,
        "shared": question.shared,
        "messages": _messages(question, side, thread),
    }


def _support_out(request: HttpRequest, question: Question) -> dict[str, Any]:
    side, thread = services.read_thread(by=_user(request), question=question)
    return {
        "id": question.pk,
        "subject": question.subject,
        "status": question.status,
        "created_at": question.created_at,
        "waiting_since": question.waiting_since,
        "shared": question.shared,
        "messages": _messages(question, side, thread),
    }


def _patient_question(request: HttpRequest, patient_id: int, question_id: int) -> Question:
    account = portal_account(_user(request), patient_id)
    question = (
        Question.objects.select_related("clinic", "patient")
        .filter(pk=question_id, patient_id=account.patient_id)
        .first()
    )
    if question is None:
        raise Http404("no such question")
    return question


def _clinic_patient(request: HttpRequest, patient_id: int) -> Patient:
    from openidds.web.patients.services import find_patient

    return find_patient(by=_user(request), patient_id=patient_id)


def _clinic_question(request: HttpRequest, patient_id: int, question_id: int) -> Question:
    patient = _clinic_patient(request, patient_id)
    require_role(_user(request), patient.clinic, services.CLINIC_ANSWERERS)
    question = (
        Question.objects.select_related("clinic", "patient")
        .filter(pk=question_id, patient=patient)
        .first()
    )
    if question is None:
        raise Http404("no such question")
    services.find_question(by=_user(request), question_id=question.pk, kind="clinic")
    return question


# -- the portal ----------------------------------------------------------------------------


@router.get(
    "/portal/patients/{patient_id}/questions",
    response={200: list[QuestionSummary], **ERRORS},
    summary="The patient's questions (the patient or their caregiver)",
)
def portal_questions(request: HttpRequest, patient_id: int) -> list[Question]:
    account = portal_account(_user(request), patient_id)
    return services.portal_questions(by=_user(request), patient=account.patient)


@router.post(
    "/portal/patients/{patient_id}/questions",
    response={201: QuestionOut, **ERRORS},
    summary="Ask the clinic or the manufacturer's support (the patient or their caregiver)",
)
def ask(request: HttpRequest, patient_id: int, payload: AskIn) -> Status[dict[str, Any]]:
    account = portal_account(_user(request), patient_id)
    question = services.ask_question(
        by=_user(request),
        patient=account.patient,
        recipient=payload.recipient.value,
        subject=payload.subject,
        body=payload.body,
        share=payload.share,
    )
    return Status(201, _question_out(request, question))


@router.get(
    "/portal/patients/{patient_id}/questions/{question_id}",
    response={200: QuestionOut, **ERRORS},
    summary="One question with its messages (the reading is audited)",
)
def portal_question(request: HttpRequest, patient_id: int, question_id: int) -> dict[str, Any]:
    return _question_out(request, _patient_question(request, patient_id, question_id))


@router.post(
    "/portal/patients/{patient_id}/questions/{question_id}/messages",
    response={201: QuestionOut, **ERRORS},
    summary="Write in the thread (the question is open again)",
)
def portal_message(
    request: HttpRequest, patient_id: int, question_id: int, payload: MessageIn
) -> Status[dict[str, Any]]:
    question = _patient_question(request, patient_id, question_id)
    services.write_message(by=_user(request), question=question, body=payload.body)
    return Status(201, _question_out(request, question))


@router.post(
    "/portal/patients/{patient_id}/questions/{question_id}/close",
    response={200: QuestionSummary, **ERRORS},
    summary="Close the question",
)
def portal_close(request: HttpRequest, patient_id: int, question_id: int) -> Question:
    question = _patient_question(request, patient_id, question_id)
    return services.close_question(by=_user(request), question=question)


@router.get(
    "/portal/patients/{patient_id}/stories",
    response={200: list[StoryOut], **ERRORS},
    summary="The patient's stories (the patient or their caregiver)",
)
def portal_stories(request: HttpRequest, patient_id: int) -> list[Story]:
    account = portal_account(_user(request), patient_id)
    return services.portal_stories(by=_user(request), patient=account.patient)


@router.post(
    "/portal/patients/{patient_id}/stories",
    response={201: StoryOut, **ERRORS},
    summary="Write a story (the patient only): a draft, or sent to the clinic for review",
)
def story_create(request: HttpRequest, patient_id: int, payload: StoryIn) -> Status[Story]:
    account = portal_account(_user(request), patient_id)
    data = payload.model_dump()
    story = services.save_story(
        by=_user(request),
        patient=account.patient,
        title=data["title"],
        body=data["body"],
        scope=payload.scope.value,
        parts=data["parts"],
        name_choice=payload.name_choice.value,
        submit=data["submit"],
    )
    return Status(201, story)


def _own_story(request: HttpRequest, patient_id: int, story_id: int) -> tuple[Any, Story]:
    account = portal_account(_user(request), patient_id)
    story = Story.objects.filter(pk=story_id, patient_id=account.patient_id).first()
    if story is None:
        raise Http404("no such story")
    return account, story


@router.put(
    "/portal/patients/{patient_id}/stories/{story_id}",
    response={200: StoryOut, **ERRORS},
    summary="Change a story (the patient only); a published one leaves the public page "
    "until approved again",
)
def story_update(request: HttpRequest, patient_id: int, story_id: int, payload: StoryIn) -> Story:
    account, story = _own_story(request, patient_id, story_id)
    data = payload.model_dump()
    return services.save_story(
        by=_user(request),
        patient=account.patient,
        story=story,
        title=data["title"],
        body=data["body"],
        scope=payload.scope.value,
        parts=data["parts"],
        name_choice=payload.name_choice.value,
        submit=data["submit"],
    )


@router.post(
    "/portal/patients/{patient_id}/stories/{story_id}/withdraw",
    response={200: StoryOut, **ERRORS},
    summary="Withdraw a story (the patient only): off the public page at once",
)
def story_withdraw(request: HttpRequest, patient_id: int, story_id: int) -> Story:
    _, story = _own_story(request, patient_id, story_id)
    return services.withdraw_story(by=_user(request), story=story)


# -- the clinic ----------------------------------------------------------------------------


def _clinic_summary(q: Question) -> dict[str, Any]:
    return {
        "id": q.pk,
        "subject": q.subject,
        "recipient": q.recipient,
        "status": q.status,
        "created_at": q.created_at,
        "last_message_at": q.last_message_at,
        "waiting_since": q.waiting_since,
        "patient": q.patient_id,
        "patient_name": q.patient.name,
    }


@router.get(
    "/clinic-questions",
    response={200: list[ClinicQuestionSummary], **ERRORS},
    summary="Questions to the clinic, waiting ones first (physician, nurse)",
)
def clinic_questions(
    request: HttpRequest, filters: Query[ClinicFilter], status: Query[StatusFilter]
) -> list[dict[str, Any]]:
    clinic = clinic_for(request, filters.clinic)
    found = services.clinic_questions(
        by=_user(request), clinic=clinic, status=status.status.value if status.status else ""
    )
    return [_clinic_summary(q) for q in found]


@router.get(
    "/patients/{patient_id}/questions",
    response={200: list[ClinicQuestionSummary], **ERRORS},
    summary="A patient's questions to the clinic (physician, nurse)",
)
def patient_questions(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    patient = _clinic_patient(request, patient_id)
    found = services.patient_questions_for_clinic(by=_user(request), patient=patient)
    return [_clinic_summary(q) for q in found]


@router.get(
    "/patients/{patient_id}/questions/{question_id}",
    response={200: QuestionOut, **ERRORS},
    summary="One question to the clinic with its messages (physician, nurse; audited)",
)
def clinic_question(request: HttpRequest, patient_id: int, question_id: int) -> dict[str, Any]:
    return _question_out(request, _clinic_question(request, patient_id, question_id))


@router.post(
    "/patients/{patient_id}/questions/{question_id}/replies",
    response={201: QuestionOut, **ERRORS},
    summary="Answer (physician, nurse): the patient is notified in the portal and by e-mail",
)
def clinic_reply(
    request: HttpRequest, patient_id: int, question_id: int, payload: MessageIn
) -> Status[dict[str, Any]]:
    question = _clinic_question(request, patient_id, question_id)
    services.write_message(by=_user(request), question=question, body=payload.body)
    return Status(201, _question_out(request, question))


@router.post(
    "/patients/{patient_id}/questions/{question_id}/close",
    response={200: QuestionSummary, **ERRORS},
    summary="Close a question to the clinic (physician, nurse)",
)
def clinic_close(request: HttpRequest, patient_id: int, question_id: int) -> Question:
    question = _clinic_question(request, patient_id, question_id)
    return services.close_question(by=_user(request), question=question)


# -- the manufacturer's support ------------------------------------------------------------


@router.get(
    "/support/questions",
    response={200: list[SupportQuestionSummary], **ERRORS},
    summary="Questions routed to the support (support role; only what patients shared)",
)
def support_questions(request: HttpRequest, status: Query[StatusFilter]) -> list[Question]:
    return services.support_questions(
        by=_user(request), status=status.status.value if status.status else ""
    )


@router.get(
    "/support/questions/{question_id}",
    response={200: SupportQuestionOut, **ERRORS},
    summary="One question routed to the support, with its messages (audited)",
)
def support_question(request: HttpRequest, question_id: int) -> dict[str, Any]:
    question, _ = services.find_question(by=_user(request), question_id=question_id, kind="support")
    return _support_out(request, question)


@router.post(
    "/support/questions/{question_id}/replies",
    response={201: SupportQuestionOut, **ERRORS},
    summary="Answer as the support: the patient is notified in the portal and by e-mail",
)
def support_reply(
    request: HttpRequest, question_id: int, payload: MessageIn
) -> Status[dict[str, Any]]:
    question, _ = services.find_question(by=_user(request), question_id=question_id, kind="support")
    services.write_message(by=_user(request), question=question, body=payload.body)
    return Status(201, _support_out(request, question))


@router.post(
    "/support/questions/{question_id}/close",
    response={200: SupportQuestionSummary, **ERRORS},
    summary="Close a question routed to the support",
)
def support_close(request: HttpRequest, question_id: int) -> Question:
    question, _ = services.find_question(by=_user(request), question_id=question_id, kind="support")
    return services.close_question(by=_user(request), question=question)


# -- story moderation ----------------------------------------------------------------------


def _moderation_out(story: Story) -> dict[str, Any]:
    return {
        **{f: getattr(story, f) for f in StoryOut.model_fields},
        "patient": story.patient_id,
        "name_preview": services.display_name(story.patient.name, story.name_choice),
    }


@router.get(
    "/stories/moderation",
    response={200: list[ModerationStoryOut], **ERRORS},
    summary="The clinic's stories that are not drafts, waiting ones first (physician, nurse, "
    "clinic admin)",
)
def moderation_queue(request: HttpRequest, filters: Query[ClinicFilter]) -> list[dict[str, Any]]:
    clinic = clinic_for(request, filters.clinic)
    return [_moderation_out(s) for s in services.clinic_stories(by=_user(request), clinic=clinic)]


@router.post(
    "/stories/{story_id}/moderation",
    response={200: ModerationStoryOut, **ERRORS},
    summary="Approve (publish), ask for changes or reject a story, with a note",
)
def moderate(request: HttpRequest, story_id: int, payload: ModerationIn) -> dict[str, Any]:
    from openidds.web.accounts.roles import role_in

    story = Story.objects.select_related("clinic", "patient").filter(pk=story_id).first()
    if story is None or role_in(_user(request), story.clinic) is None:
        raise Http404("no such story")
    if story.status == StoryStatus.DRAFT:
        raise Http404("no such story")
    moderated = services.moderate_story(
        by=_user(request), story=story, decision=payload.decision, note=payload.note
    )
    return _moderation_out(moderated)


# -- public --------------------------------------------------------------------------------


@router.get(
    "/stories/published",
    response={200: list[PublicStoryOut], **ERRORS},
    auth=None,
    summary="Published stories (no log-in): the chosen text under the chosen name",
)
def published_stories(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "id": s.pk,
            "title": s.title,
            "name": s.published_name,
            "text": s.published_text,
            "published_at": s.published_at,
        }
        for s in services.public_stories()
    ]


def _reader_clinic(request: HttpRequest) -> Any:
    return services.reader_clinic(getattr(request, "user", None))


@router.get(
    "/learn/pages",
    response={200: list[LearnPageSummary], **ERRORS},
    auth=None,
    summary="The learning pages (no log-in: the defaults; a portal user: their clinic's)",
)
def learn_pages(request: HttpRequest) -> list[Any]:
    return services.learn_pages(_reader_clinic(request))


@router.get(
    "/learn/pages/{slug}",
    response={200: LearnPageOut, **ERRORS},
    auth=None,
    summary="One learning page, as Markdown and as sanitised HTML",
)
def learn_page(request: HttpRequest, slug: str) -> dict[str, Any]:
    page = services.learn_page(_reader_clinic(request), slug)
    return {
        "slug": page.slug,
        "title": page.title,
        "version": page.version,
        "body_markdown": page.body_markdown,
        "html": page.html,
    }
