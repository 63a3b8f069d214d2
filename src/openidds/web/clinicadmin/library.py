"""Which drug library a clinic's dose checks use, and the library as rows for people.

:func:`library_for_clinic` is what the clinical services pass to ``openidds.dosing.check``.
A clinic uses the library shipped with OpenIDDS (``openidds.dosing.load_library()``) until
its clinic admin chooses one of the clinic's uploaded copies (``services.select_library``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError

from openidds.dosing import Drug, Library, LibraryError, amount, load_library, parse_library
from openidds.web.accounts.models import Clinic
from openidds.web.clinicadmin.models import ClinicDrugLibrary, DrugLibrarySelection

#: The largest library file accepted (the shipped one is about 60 kB).
MAX_LIBRARY_BYTES = 512 * 1024


def builtin_library() -> Library:
    """The library shipped with OpenIDDS (or the server-wide ``$OPENIDDS_DRUG_LIBRARY``)."""
    return load_library()


def current_selection(clinic: Clinic) -> DrugLibrarySelection | None:
    """The clinic's newest choice, or None (never chosen: the built-in library)."""
    return (
        DrugLibrarySelection.objects.filter(clinic=clinic)
        .select_related("library", "selected_by")
        .order_by("-selected_at", "-id")
        .first()
    )


def library_for_clinic(clinic: Clinic) -> Library:
    """The drug library the clinic's dose checks use now: the clinic's chosen upload, or
    the built-in library when none is chosen (or the built-in one was chosen again)."""
    selection = current_selection(clinic)
    if selection is None or selection.library is None:
        return builtin_library()
    return stored_library(selection.library)


def stored_library(upload: ClinicDrugLibrary) -> Library:
    """The parsed library of an upload (cached: uploads are append-only, never edited)."""
    return _parse_stored(upload.pk, upload.sha256, upload.toml, _label(upload))


def _label(upload: ClinicDrugLibrary) -> str:
    return f"clinic upload #{upload.pk} ({upload.library_name} {upload.library_version})"


@lru_cache(maxsize=64)
def _parse_stored(pk: int, sha256: str, text: str, label: str) -> Library:
    return parse_library(tomllib.loads(text), path=label)


def parse_upload(text: str, *, label: str = "the uploaded file") -> tuple[Library, dict[str, Any]]:
    """Validate a library file as the dose checks' loader does; ValidationError on ``toml``
    (the loader's message names the table and key at fault)."""
    if "\x00" in text:
        raise ValidationError({"toml": ["contains a NUL character: not a text file"]})
    if len(text.encode("utf-8")) > MAX_LIBRARY_BYTES:
        raise ValidationError({"toml": [f"larger than {MAX_LIBRARY_BYTES // 1024} kB"]})
    if not text.strip():
        raise ValidationError({"toml": ["this field is required"]})
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError({"toml": [f"not valid TOML: {exc}"]}) from exc
    try:
        library = parse_library(raw, path=label)
    except LibraryError as exc:
        raise ValidationError({"toml": [str(exc)]}) from exc
    return library, raw


def raw_of(library: Library, upload: ClinicDrugLibrary | None = None) -> dict[str, Any]:
    """The TOML document of a library (for the ``confirmed`` flags and notes the typed
    library does not keep); empty if it cannot be read."""
    try:
        if upload is not None:
            return tomllib.loads(upload.toml)
        return tomllib.loads(Path(library.path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


# -- the library as rows ------------------------------------------------------------------


@dataclass(frozen=True)
class LimitRow:
    """One limit of one drug, as the page and the API show it."""

    drug: str
    drug_name: str
    parameter: str
    value: str
    kind: str
    basis: str
    source: str
    confirmed: bool | None

    def key(self) -> tuple[str, str]:
        return (self.drug, self.parameter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drug": self.drug,
            "drug_name": self.drug_name,
            "parameter": self.parameter,
            "value": self.value,
            "kind": self.kind,
            "basis": self.basis,
            "source": self.source,
            "confirmed": self.confirmed,
        }


def _confirmed(raw: Mapping[str, Any], drug: str, table: str, key: str = "confirmed") -> Any:
    """``raw["drugs"][drug][table][key]`` if it is a bool or a string, else None."""
    value = raw.get("drugs", {}).get(drug, {}).get(table, {})
    if isinstance(value, Mapping):
        found = value.get(key)
        return found if isinstance(found, bool | str) else None
    return None


def _range(drug: Drug, low: float | None, high: float | None, unit: str) -> str:
    if low is None or high is None:
        return "—"
    return f"{amount(drug, low, unit)} to {amount(drug, high, unit)}"


def limit_rows(library: Library, raw: Mapping[str, Any] | None = None) -> list[LimitRow]:
    """Every limit of every drug with its value (mg units; mcg too for mcg drugs), kind,
    basis and source, in the library's order."""
    raw = raw or {}
    rows: list[LimitRow] = []
    for drug in library.drugs.values():

        def row(
            parameter: str,
            value: str,
            kind: str,
            basis: str,
            source: str,
            confirmed: bool | None,
            drug: Drug = drug,
        ) -> None:
            rows.append(
                LimitRow(drug.id, drug.name, parameter, value, kind, basis, source, confirmed)
            )

        for label, limit, unit, table in (
            (
                "concentration max",
                drug.concentration_max,
                "mg/mL",
                "concentration_max_mg_per_ml",
            ),
            ("daily dose max", drug.daily_dose_max, "mg/day", "daily_dose_max_mg_per_day"),
        ):
            row(
                f"{label}, soft",
                amount(drug, limit.soft, unit),
                limit.soft_kind,
                limit.soft_basis,
                limit.source,
                _confirmed(raw, drug.id, table, "soft_confirmed"),
            )
            regions = "".join(
                f"; {region} {amount(drug, value, unit)}"
                for region, value in sorted(limit.by_region.items())
            )
            row(
                f"{label}, hard",
                amount(drug, limit.hard, unit) + regions,
                limit.hard_kind,
                limit.hard_basis,
                limit.source,
                _confirmed(raw, drug.id, table, "hard_confirmed"),
            )
        start = drug.starting_dose
        if start.rule_factor is not None:
            doses = ", ".join(amount(drug, d, "mg") for d in start.screening_bolus_doses_mg)
            value = f"{start.rule_factor:g} × the screening bolus dose ({doses}) per day"
        else:
            value = _range(drug, start.low, start.high, "mg/day")
        row(
            f"starting dose ({start.applies_to})",
            value,
            str(_confirmed(raw, drug.id, "starting_dose_mg_per_day", "kind") or ""),
            start.basis,
            start.source,
            _confirmed(raw, drug.id, "starting_dose_mg_per_day"),
        )
        t = drug.titration
        soft: list[str] = []
        if t.soft_increase_fraction is not None:
            soft.append(f"+{t.soft_increase_fraction * 100:g} % per change")
        if t.soft_increase_mg_per_day is not None:
            soft.append(f"+{amount(drug, t.soft_increase_mg_per_day, 'mg/day')} per change")
        for phase, limits in sorted(t.phases.items()):
            parts = ", ".join(
                f"{k} {v:g} h" if k.endswith("hours") else f"{k} +{v * 100:g} %"
                for k, v in sorted(limits.items())
            )
            soft.append(f"{phase.replace('_', ' ')}: {parts}")
        if t.soft_min_interval_hours is not None:
            soft.append(f"at least {t.soft_min_interval_hours:g} h apart")
        if t.no_increase_after_implant_hours is not None:
            soft.append(f"no increase in the first {t.no_increase_after_implant_hours:g} h")
        row(
            "increase, soft",
            "; ".join(soft) or "—",
            t.soft_kind,
            t.soft_basis,
            t.source,
            _confirmed(raw, drug.id, "titration", "soft_confirmed"),
        )
        if t.hard_increase_mg_per_day is not None or t.hard_min_interval_hours is not None:
            hard: list[str] = []
            if t.hard_increase_mg_per_day is not None:
                hard.append(f"+{amount(drug, t.hard_increase_mg_per_day, 'mg/day')} per change")
            if t.hard_min_interval_hours is not None:
                hard.append(f"at least {t.hard_min_interval_hours:g} h apart")
            row(
                "increase, hard",
                "; ".join(hard),
                t.hard_kind,
                t.hard_basis,
                t.source,
                _confirmed(raw, drug.id, "titration", "hard_confirmed"),
            )
        s = drug.stability
        stability = f"{s.in_pump_days:g} days"
        if s.in_pump_days_undiluted is not None:
            stability += f"; undiluted {s.in_pump_days_undiluted:g} days"
        if s.first_refill_days_new_pump is not None:
            first = s.first_refill_days_new_pump
            stability += f"; first refill of a new pump within {first:g} days"
        row("in-pump stability", stability, "", "", s.source, None)
        row(
            "PTM in an opioid-naive patient",
            "allowed" if drug.ptm_allowed_opioid_naive else "not allowed",
            "",
            "",
            "",
            _confirmed(raw, drug.id, "ptm_allowed_opioid_naive"),
        )
        row(
            "withdrawal risk",
            "yes" if drug.withdrawal_risk else "no",
            "",
            "",
            "",
            _confirmed(raw, drug.id, "withdrawal_risk"),
        )
        labelled = drug.labelled
        row(
            "labelled for",
            "; ".join(
                [
                    ", ".join(labelled.indications) or "no indication",
                    ", ".join(labelled.regions) or "no region",
                    ", ".join(labelled.pumps) or "no pump",
                ]
            ),
            "label",
            "",
            labelled.source,
            _confirmed(raw, drug.id, "labelled"),
        )
    return rows


@dataclass(frozen=True)
class Change:
    drug: str
    parameter: str
    old: str
    new: str


def differences(old: Library, new: Library) -> list[Change]:
    """The limits whose value differs between two libraries (drugs added or removed
    included), in the new library's order, then the removed ones."""
    before = {r.key(): r for r in limit_rows(old)}
    after = {r.key(): r for r in limit_rows(new)}
    changes = [
        Change(r.drug, r.parameter, before[k].value if k in before else "—", r.value)
        for k, r in after.items()
        if k not in before or before[k].value != r.value
    ]
    changes += [
        Change(r.drug, r.parameter, r.value, "—") for k, r in before.items() if k not in after
    ]
    return changes
