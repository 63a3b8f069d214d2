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
    "patient_not_stated": "info",
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
