"""Refill appointments as iCalendar (RFC 5545), for the download and the private feed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from icalendar import Alarm, Calendar, Event

from openidds.web.patients.models import Patient
from openidds.web.portal.models import RefillAppointment

#: A refill visit's length in the calendar (the booking has only its start).
VISIT_LENGTH = timedelta(minutes=30)


def refill_calendar(
    patient: Patient,
    appointments: Iterable[RefillAppointment],
    *,
    phone_24h: str = "",
    host: str = "openidds",
) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//OpenIDDS//patient portal//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Pump refills ({patient.clinic.name})")
    for appointment in appointments:
        event = Event()
        event.add("uid", f"refill-{appointment.pk}@{host}")
        event.add("dtstamp", datetime.now(UTC))
        event.add("dtstart", appointment.starts_at.astimezone(UTC))
        event.add("dtend", appointment.starts_at.astimezone(UTC) + VISIT_LENGTH)
        event.add("summary", f"Pump refill at {patient.clinic.name}")
        description = (
            "Refill of your drug pump. Do not miss it: if you cannot come, call the clinic."
        )
        if phone_24h:
            description += f" Clinic 24-hour number: {phone_24h}."
        if appointment.note:
            description += f" Note: {appointment.note}"
        event.add("description", description)
        event.add("status", "CONFIRMED")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", "Pump refill tomorrow")
        alarm.add("trigger", timedelta(days=-1))
        event.add_component(alarm)
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical
