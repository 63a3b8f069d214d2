"""A pump with a history for the refill tests (imported as ``test_refills_helpers``; no
tests of its own).

The hand-computed case: a SynchroMed II 20 mL implanted (primed) at T0, filled with 20 mL of
morphine 10 mg/mL and programmed to 5 mg/day, i.e. 5 / 10 = 0.5 mL/day. At AT = T0 + 30
days the twin expects 20 − 0.5 × 30 = 5.0 mL in the reservoir. The catalog's discrepancy
threshold of the 20 mL pump is 1.0 mL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from openidds.web.implants import services as implant_services
from openidds.web.implants.models import Implant

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
AT = T0 + timedelta(days=30)


def make_pump(
    patient: Any,
    physician: Any,
    *,
    model: str = "synchromed2-20",
    volume_ml: float = 20,
    dose: str = "5 mg/day",
    at: datetime = T0,
) -> Implant:
    implant = implant_services.record_implant(
        by=physician,
        patient=patient,
        pump_model=model,
        serial=f"S-{patient.pk}-{model}",
        implanted_at=at,
        fluid_path_initial="primed",
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=at,
        fields={"volume_ml": volume_ml, "drugs": {"morphine": "10 mg/mL"}},
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=at,
        fields={"mode": "continuous", "dose": {"morphine": dose}},
    )
    return implant
