"""Refill reminders through the real task queue: the enqueuer command, django-tasks-db's
worker (``db_worker --batch``), the e-mail in ``mail.outbox`` and the portal notification;
never twice for the same appointment and kind, even when two workers race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from test_portal_helpers import book, caregiver_user, implant_with_morphine, portal_user

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.portal import reminders
from openidds.web.portal.models import PortalNotification, RefillReminder

pytestmark = pytest.mark.django_db


def _run_worker() -> None:
    """The real worker, once over the queue. It closes the database connection after each
    task (as a long-running worker must), so its tests are transactional: inside the
    wrapping transaction of a plain test, PostgreSQL's connection would be gone."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


def _enqueue() -> None:
    call_command("send_refill_reminders", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def booked(patient, physician, nurse):
    """An appointment 6 days ahead (inside the 7-day window, outside the 1-day one)."""
    implant_with_morphine(patient, physician)
    user, _ = portal_user(patient, nurse, "anna", email="anna@example.org")
    _carer, _ = caregiver_user(user, patient, "carl", email="carl@example.org")
    appointment = book(patient, nurse, timezone.now() + timedelta(days=6))
    return appointment, user


@pytest.mark.usefixtures("_triggers_off_for_flush")  # the worker closes connections
def test_the_queue_sends_the_7_day_reminder_once(booked, client):
    appointment, user = booked
    mail.outbox.clear()
    _enqueue()
    task = DBTaskResult.objects.get()
    assert task.task_path == "openidds.web.portal.tasks.send_refill_reminder"
    assert task.args_kwargs["args"] == [appointment.pk, "7d"]
    assert len(mail.outbox) == 0  # enqueued, not sent: the worker sends

    _run_worker()

    task.refresh_from_db()
    assert task.status == "SUCCESSFUL"
    assert task.return_value == "sent"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject.startswith("Pump refill in 7 days")
    assert sorted(message.bcc) == ["anna@example.org", "carl@example.org"]
    assert "Own Clinic" in message.body
    note = PortalNotification.objects.get()
    assert "in 7 days" in note.text
    assert AuditEvent.objects.filter(action=Action.REMINDER_SENT, patient=appointment.patient)
    # The patient sees it on the portal home.
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    home = client.get(f"/portal/p/{appointment.patient_id}/").content.decode()
    assert note.text in home

    # A second run: nothing due, nothing enqueued, nothing sent.
    _enqueue()
    _run_worker()
    assert len(mail.outbox) == 1
    assert PortalNotification.objects.count() == 1
    assert DBTaskResult.objects.count() == 1


@pytest.mark.usefixtures("_triggers_off_for_flush")  # the worker closes connections
def test_a_task_enqueued_twice_sends_once(booked):
    appointment, _ = booked
    mail.outbox.clear()
    _enqueue()
    _enqueue()  # the enqueuer ran twice before any worker
    assert DBTaskResult.objects.count() == 2
    _run_worker()
    results = sorted(DBTaskResult.objects.values_list("return_value", flat=True))
    assert results == ["already sent", "sent"]
    assert len(mail.outbox) == 1
    assert RefillReminder.objects.filter(appointment=appointment).count() == 1


@pytest.mark.usefixtures("_triggers_off_for_flush")  # the worker closes connections
def test_the_1_day_reminder_and_a_cancelled_appointment(patient, physician, nurse):
    implant_with_morphine(patient, physician)
    portal_user(patient, nurse, "anna", email="anna@example.org")
    soon = book(patient, nurse, timezone.now() + timedelta(hours=20))
    cancelled = book(patient, nurse, timezone.now() + timedelta(hours=21))
    from openidds.web.portal.services import set_appointment_status

    set_appointment_status(by=nurse, appointment=cancelled, status="cancelled")
    mail.outbox.clear()
    # 20 h ahead: the 1-day reminder only (the 7-day one's window ended 1 day before).
    assert reminders.due_reminders() == [(soon.pk, "1d")]
    _enqueue()
    _run_worker()
    assert len(mail.outbox) == 1
    assert "tomorrow" in mail.outbox[0].subject


def test_reminder_windows_by_hand():
    # Appointment at day 10: 7-day reminder due [day 3, day 9), 1-day [day 9, day 10).
    from datetime import UTC, datetime

    starts = datetime(2027, 1, 11, 9, tzinfo=UTC)
    assert reminders.window("7d", starts) == (
        datetime(2027, 1, 4, 9, tzinfo=UTC),
        datetime(2027, 1, 10, 9, tzinfo=UTC),
    )
    assert reminders.window("1d", starts) == (datetime(2027, 1, 10, 9, tzinfo=UTC), starts)


def test_nothing_is_sent_when_not_due(booked):
    appointment, _ = booked
    mail.outbox.clear()
    assert reminders.send_reminder(appointment.pk, "1d") == "not due"
    assert reminders.send_reminder(appointment.pk, "7d") == "sent"
    assert reminders.send_reminder(appointment.pk, "7d") == "already sent"
    assert len(mail.outbox) == 1


def _append_only_triggers() -> tuple[list[str], list[str]]:
    """(create, drop) statements of every append-only trigger now in the database, read
    back from the database itself (whatever app made them)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND (name LIKE '%no_update' OR name LIKE '%no_delete')"
            )
            rows = cursor.fetchall()
            return [sql for _, sql in rows], [f"DROP TRIGGER IF EXISTS {n};" for n, _ in rows]
        cursor.execute(
            "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid), p.oid::regprocedure::text, "
            "pg_get_functiondef(p.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE NOT t.tgisinternal "
            "AND p.proname LIKE '%append_only'"
        )
        rows = cursor.fetchall()
    functions = {fn: body for _, _, _, fn, body in rows}
    create = [*functions.values(), *(trigger for _, _, trigger, _, _ in rows)]
    drop = [f"DROP TRIGGER IF EXISTS {name} ON {table};" for name, table, _, _, _ in rows]
    return create, drop


@pytest.fixture(scope="module")
def _triggers_back(django_db_setup, django_db_blocker):
    """After the flush of the transactional test: the append-only triggers again (other
    tests of this database rely on them). Module-scoped, so that it ends after the flush,
    which pytest-django's own autouse fixture does last."""
    with django_db_blocker.unblock():
        create, _ = _append_only_triggers()
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for sql in create:
            cursor.execute(sql)


@pytest.fixture
def _triggers_off_for_flush(_triggers_back, transactional_db):
    """The flush that ends a transactional test deletes (or truncates) append-only rows,
    which the triggers refuse: drop them just before it (as tests/browser does)."""
    yield
    _, drop = _append_only_triggers()
    with connection.cursor() as cursor:
        for sql in drop:
            cursor.execute(sql)


def _send_retrying(appointment_id: int, kind: str) -> str:
    """As a worker on a real database would: SQLite's in-memory test database (shared
    cache) reports a concurrent writer as "table is locked" at once instead of waiting
    (busy_timeout), so wait and retry here; PostgreSQL blocks on the unique index."""
    import time

    from django.db import OperationalError

    for _ in range(200):
        try:
            return reminders.send_reminder(appointment_id, kind)
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.01)
    raise AssertionError("still locked")


@pytest.mark.usefixtures("_triggers_off_for_flush")
def test_two_workers_racing_send_once(patient, physician, nurse):
    """Two threads (two database connections) released at the same instant send the same
    reminder: the unique (appointment, kind) lets exactly one through."""
    implant_with_morphine(patient, physician)
    portal_user(patient, nurse, "anna", email="anna@example.org")
    appointment = book(patient, nurse, timezone.now() + timedelta(days=6))
    mail.outbox.clear()
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(_send_retrying(appointment.pk, "7d"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == ["already sent", "sent"]
    assert len(mail.outbox) == 1
    assert RefillReminder.objects.filter(appointment=appointment).count() == 1
    assert PortalNotification.objects.count() == 1


def test_the_unique_constraint_itself_refuses_a_second_row(booked):
    from django.db import IntegrityError, transaction

    appointment, _ = booked
    RefillReminder.objects.create(appointment=appointment, kind="7d")
    with pytest.raises(IntegrityError), transaction.atomic():
        RefillReminder.objects.create(appointment=appointment, kind="7d")
