"""Questions to the clinic or the manufacturer's support, patient stories, learning pages.

Every change goes through ``community/services.py`` (role check, validation, one
transaction, an audit event). Messages, notifications and learning-page versions are never
changed once written: a thread grows, a page gets a new version.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class ImmutableError(Exception):
    """An attempt to change or delete a row that is only ever appended."""


class _AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableError(f"{self.model.__name__} rows cannot be changed")

    def delete(self) -> NoReturn:
        raise ImmutableError(f"{self.model.__name__} rows cannot be deleted")


class _AppendOnly(models.Model):
    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ImmutableError(f"{type(self).__name__} rows cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableError(f"{type(self).__name__} rows cannot be deleted")


# -- questions -------------------------------------------------------------------------------


class Recipient(models.TextChoices):
    CLINIC = "clinic", "My clinic"
    SUPPORT = "support", "The manufacturer's product support"


class QuestionStatus(models.TextChoices):
    OPEN = "open", "Open: waiting for an answer"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class Question(models.Model):
    """A thread between a patient (or their caregiver) and the clinic or the support.

    ``shared`` is what the patient chose to show the manufacturer's support, copied when the
    question was asked (``{"pump_model": "SynchroMed II, 40 mL", ...}``): the support role
    reads this and the messages, nothing else of the patient. Empty for clinic questions.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="questions"
    )
    #: the patient's clinic when asked (the worklist and the support filter by it)
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    recipient = models.CharField(max_length=10, choices=Recipient.choices)
    subject = models.CharField(max_length=200)
    status = models.CharField(
        max_length=10, choices=QuestionStatus.choices, default=QuestionStatus.OPEN
    )
    shared = models.JSONField(default=dict, blank=True)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    #: "patient" or "caregiver": who wrote the first message
    asked_as = models.CharField(max_length=10)
    created_at = models.DateTimeField()
    #: since when the patient's side waits for an answer (None: not waiting)
    waiting_since = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(
                fields=["clinic", "recipient", "status", "waiting_since"],
                name="question_queue",
            ),
            models.Index(fields=["patient", "-last_message_at"], name="question_patient"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(recipient__in=["clinic", "support"]),
                name="question_recipient_known",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "answered", "closed"]),
                name="question_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} ({self.get_status_display()})"


class AuthorRole(models.TextChoices):
    PATIENT = "patient", "Patient"
    CAREGIVER = "caregiver", "Caregiver"
    PHYSICIAN = "physician", "Physician"
    NURSE = "nurse", "Nurse"
    SUPPORT = "support", "Manufacturer support"


#: Who writes on the patient's side of a thread
PATIENT_SIDE = frozenset({AuthorRole.PATIENT, AuthorRole.CAREGIVER})


class Message(_AppendOnly):
    """One message of a thread; never edited."""

    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_role = models.CharField(max_length=10, choices=AuthorRole.choices)
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    @property
    def from_patient_side(self) -> bool:
        return self.author_role in PATIENT_SIDE

    def __str__(self) -> str:
        return f"{self.get_author_role_display()} on {self.question_id}"


class QuestionNotification(models.Model):
    """'Your question has an answer': one per answering message (the unique constraint makes
    a second notification of the same answer impossible). Shown on the portal's questions
    page until a portal user of the patient opens the thread (``read_at``); the e-mail is
    sent when the row is written (after the commit)."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="+")
    message = models.OneToOneField(Message, on_delete=models.PROTECT, related_name="notification")
    created_at = models.DateTimeField()
    #: the addresses the e-mail went to (empty: no portal user of the patient has one)
    emailed_to = models.JSONField(default=list, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


# -- stories ---------------------------------------------------------------------------------


class StoryStatus(models.TextChoices):
    DRAFT = "draft", "Draft (only you see it)"
    SUBMITTED = "submitted", "Sent to the clinic for review"
    CHANGES_REQUESTED = "changes_requested", "The clinic asks for changes"
    PUBLISHED = "published", "Published"
    REJECTED = "rejected", "Not published (the clinic declined)"
    WITHDRAWN = "withdrawn", "Withdrawn by you"


class NameChoice(models.TextChoices):
    REAL_NAME = "real_name", "My full name"
    FIRST_NAME = "first_name", "My first name"
    INITIALS = "initials", "My initials"
    ANONYMOUS = "anonymous", "Anonymous"


class PublishScope(models.TextChoices):
    WHOLE = "whole", "The whole text"
    PARTS = "parts", "Only the paragraphs I mark"


class Story(models.Model):
    """A patient's story. What the public sees is ``published_text`` under ``published_name``,
    copied when the clinic approved it, and only while the status is ``published``."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField()
    scope = models.CharField(max_length=10, choices=PublishScope.choices)
    #: indexes (from 0) of the paragraphs that may be published when ``scope`` is parts
    parts = models.JSONField(default=list, blank=True)
    name_choice = models.CharField(max_length=12, choices=NameChoice.choices)
    status = models.CharField(max_length=20, choices=StoryStatus.choices)
    moderation_note = models.TextField(blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    moderated_at = models.DateTimeField(null=True, blank=True)
    published_name = models.CharField(max_length=200, blank=True)
    published_text = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name_plural = "stories"
        indexes = [
            models.Index(fields=["status", "-published_at"], name="story_published"),
            models.Index(fields=["clinic", "status"], name="story_clinic_status"),
        ]

    def __str__(self) -> str:
        return self.title


# -- learning pages --------------------------------------------------------------------------


class LearnPageVersion(_AppendOnly):
    """One version of a clinic's own copy of a learning page (the newest is in force)."""

    clinic = models.ForeignKey("accounts.Clinic", on_delete=models.PROTECT, related_name="+")
    slug = models.SlugField(max_length=60)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body_markdown = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    edited_at = models.DateTimeField()
    note = models.CharField("what changed", max_length=300, blank=True)

    class Meta:
        ordering = ["clinic", "slug", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "slug", "version"], name="learn_page_version_unique"
            )
        ]
