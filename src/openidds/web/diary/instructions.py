"""What the patient is told at once after a red-flag answer: whom to call, with which number.

Clinic flags: call the clinic now (its 24-hour number when the portal's ``ClinicContact``
has one). Overdose signs: call emergency services now (the number for the patient's time
zone from ``data/emergency_numbers.toml``, else "your local emergency number"), then the
clinic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction

from openidds.web.accounts.models import Clinic
from openidds.web.diary import data
from openidds.web.patients.models import Patient


def clinic_phone(clinic: Clinic) -> str:
    """The clinic's 24-hour number from the portal's contact details, or ""."""
    try:
        from openidds.web.portal.models import ClinicContact
    except ImportError:  # the portal's contact details are not there (yet)
        return ""
    try:
        with transaction.atomic():  # a savepoint: a missing table must not spoil the caller's
            contact = ClinicContact.objects.filter(clinic=clinic).first()
    except DatabaseError:  # the portal's migration is not applied
        return ""
    phone = getattr(contact, "phone_24h", "") if contact is not None else ""
    return str(phone or "")


@dataclass(frozen=True)
class CallInstruction:
    emergency: bool
    emergency_number: str  # "112" or "your local emergency number"
    clinic_name: str
    clinic_phone: str
    labels: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        if self.emergency:
            return f"Call emergency services now: {self.emergency_number}"
        return f"Call your clinic now: {self.clinic_text}"

    @property
    def clinic_text(self) -> str:
        if self.clinic_phone:
            return f"{self.clinic_name}, {self.clinic_phone}"
        return f"{self.clinic_name} (the 24-hour number is on your wallet card)"


def call_instruction(patient: Patient, flag_keys: Sequence[str]) -> CallInstruction | None:
    """The instruction for these red flags, or None when there is none."""
    if not flag_keys:
        return None
    flags = [data.red_flag(k) for k in flag_keys]
    emergency = any(f.action == "emergency" for f in flags)
    number = data.emergency_number(patient.time_zone)
    phone = clinic_phone(patient.clinic)
    instruction = CallInstruction(
        emergency=emergency,
        emergency_number=number.text,
        clinic_name=patient.clinic.name,
        clinic_phone=phone,
        labels=[f.label for f in flags],
    )
    lines: list[str] = []
    if emergency:
        lines.append(
            f"Call emergency services now: {number.text}"
            + (f" ({number.also})" if number.also else "")
            + ". Say that the patient has an implanted drug pump and show the wallet card."
        )
        lines.append(f"Then tell your clinic: {instruction.clinic_text}.")
    else:
        lines.append(f"Call your clinic now: {instruction.clinic_text}.")
        lines.append(
            "Do not wait for the clinic to call you. If you cannot reach the clinic and you "
            f"feel very unwell, call emergency services: {number.text}."
        )
    lines.append("Your clinic's team sees this on their worklist as urgent.")
    return CallInstruction(
        emergency=instruction.emergency,
        emergency_number=instruction.emergency_number,
        clinic_name=instruction.clinic_name,
        clinic_phone=instruction.clinic_phone,
        labels=instruction.labels,
        lines=lines,
    )
