"""The worklist section of open refill discrepancies (registered in ``apps.py``)."""

from __future__ import annotations

from datetime import datetime

from django.urls import reverse

from openidds.web.accounts.models import Clinic
from openidds.web.implants.twin import fmt
from openidds.web.worklists.registry import WorklistItem

TITLE = "Refill discrepancies awaiting a physician"
#: After the worklist's own refill and alarm sections (they use lower numbers).
ORDER = 40


def open_discrepancies_provider(clinic: Clinic, at: datetime) -> list[WorklistItem]:
    """Visits of the clinic awaiting a physician's acknowledgement: one query, whatever the
    number of patients (``at`` is not needed: an open discrepancy is open until acknowledged)."""
    from openidds.web.refills.services import open_discrepancy_visits

    items = []
    for visit in open_discrepancy_visits(clinic):
        patient = visit.patient
        disc = visit.discrepancy_ml or 0.0
        direction = "less" if disc < 0 else "more"
        items.append(
            WorklistItem(
                patient_id=patient.pk,
                patient_name=patient.name,
                mrn=patient.mrn,
                at=visit.at,
                text=(
                    f"Refill discrepancy: {fmt(abs(disc))} mL {direction} than the twin "
                    f"expected (threshold {fmt(visit.threshold_ml)} mL). Do not fill: a "
                    "physician must look at it and acknowledge it."
                ),
                urgent=True,
                url=reverse(
                    "refill-visit",
                    kwargs={"clinic": clinic.slug, "patient_id": patient.pk, "visit_id": visit.pk},
                ),
            )
        )
    return items
