"""Sections of the worklist that other apps contribute.

The worklist page (``openidds.web.worklists``) shows its own sections (refills due and
overdue, forecast low-reservoir alarms, ERI within 6 months, pumps past EOS) and every
section registered here, e.g. open refill discrepancies (``refills``), urgent red flags and
diary silence (``diary``), unanswered questions (``community``). An app registers its
sections in its ``AppConfig.ready()``.

A provider answers for one clinic at one instant with a **constant number of queries**,
whatever the number of patients (the worklist benchmark checks it): filter and join in the
database, never a query per patient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from openidds.web.accounts.models import Clinic


@dataclass(frozen=True)
class WorklistItem:
    patient_id: int
    patient_name: str
    mrn: str
    #: when it is due or happened (aware), if it has a time
    at: datetime | None
    #: what it is and what to do, in words a nurse understands at once
    text: str
    #: shown in red (overdue, urgent)
    urgent: bool
    #: the page where it is acted on
    url: str
    #: the patient's time zone (IANA) to show ``at`` in; empty: the worklist looks it up
    time_zone: str = ""


Provider = Callable[[Clinic, datetime], list[WorklistItem]]


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    provider: Provider
    #: sections are shown by ascending order, then key
    order: int = 100


_SECTIONS: dict[str, Section] = {}


def register(key: str, title: str, provider: Provider, order: int = 100) -> None:
    """Add (or replace, by key) a worklist section."""
    _SECTIONS[key] = Section(key=key, title=title, provider=provider, order=order)


def registered() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.key))
