"""A finding of the dose checks and the result of a check run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Severity = Literal["hard", "soft", "info"]
FINDINGS_FORMAT = "openidds.findings/1"

CODES: dict[str, str] = {
    "drug_not_in_library": "hard",
    "concentration_above_max": "soft or hard",
    "daily_dose_above_max": "soft or hard",
    "dose_implausible_unit": "hard",
    "ptm_daily_dose_above_max": "soft or hard",
    "ptm_opioid_naive": "hard",
    "starting_dose_above_range": "soft",
    "dose_increase_too_large": "soft or hard",
    "dose_increase_too_soon": "soft or hard",
    "rate_out_of_device_range": "hard",
    "overfill": "hard",
    "priming_bolus_on_primed_path": "hard",
    "concentration_change_without_bridge": "soft",
    "program_not_updated_after_concentration_change": "soft",
    "refill_discrepancy": "soft",
    "refill_beyond_stability": "soft",
    "off_label": "info",
    "patient_not_stated": "soft",
    # issue 9: dose safety v2
    "starting_dose_above_guideline": "info",
    "dose_decrease_too_large": "soft or hard",
    "dose_decimal_pattern": "hard",
    "opioid_switch_above_equianalgesic": "soft or hard",
    "opioid_switch_below_equianalgesic": "soft",
    "bolus_above_max": "soft or hard",
    "bolus_stacked_opioid_naive": "soft",
    "ptm_bolus_above_daily_fraction": "soft or hard",
    "ptm_bolus_increase_too_large": "soft",
    "priming_volume_above_path": "hard",
    "path_not_primed": "soft",
    "bridge_bolus_not_needed": "soft",
    "refill_not_reconciled": "soft",
    "refill_near_empty": "soft",
    "fill_differs_from_last": "soft",
    "fill_kept_beyond_stability": "soft",
    "ziconotide_first_fill_not_undiluted": "soft",
    "programmed_concentration_mismatch": "hard",
    "interrogation_mismatch": "soft",
    "mri_drug_in_reservoir": "hard",
    "withdrawal_pump_stopped": "soft",
    "withdrawal_interruption": "soft",
    "withdrawal_reservoir_low": "soft",
    "withdrawal_reservoir_empty": "soft",
    "withdrawal_drug_dropped": "soft or info",
    "withdrawal_battery": "soft",
    "low_reservoir_alarm_below_minimum": "soft",
}
"""Every code the checks raise and its severity."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found at one event. Amounts in mg, concentrations mg/mL, doses mg/day."""

    event_index: int
    at: datetime
    code: str
    severity: Severity
    drug: str | None
    value: float | None
    limit: float | None
    unit: str
    message: str
    source: str
    overridden: bool = False
    override_reason: str | None = None

    @property
    def blocks(self) -> bool:
        """A hard finding, or a soft one without an override: the change must not go ahead."""
        return self.severity == "hard" or (self.severity == "soft" and not self.overridden)

    @property
    def rank(self) -> int:
        """0 is worst: hard, soft, overridden soft, info."""
        if self.severity == "hard":
            return 0
        if self.severity == "soft":
            return 2 if self.overridden else 1
        return 3

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "limit"):
            if out[key] is not None:
                out[key] = round(out[key], 9) + 0.0
        out["at"] = self.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return out


@dataclass(frozen=True, slots=True)
class Report:
    """The result of a check: the library it was judged against and the findings."""

    library_id: str
    library_version: str
    findings: tuple[Finding, ...]

    @property
    def blocks(self) -> bool:
        return any(f.blocks for f in self.findings)

    def worst_first(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.rank, f.at, f.event_index))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FINDINGS_FORMAT,
            "library": {"id": self.library_id, "version": self.library_version},
            "findings": [f.to_dict() for f in self.worst_first()],
        }
