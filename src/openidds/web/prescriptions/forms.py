"""The compose form of a prescription: every change kind, turned into scenario events.

One instant for the whole change (the patient's time zone); the parts given become events
in the order a refill visit does them: fill, bridge bolus, priming bolus, program or stop,
clinician bolus, PTM settings. The service and the twin validate the content again and
name the field at fault (``changes.<position>.<field>``), which :meth:`field_for` maps back.
"""

from __future__ import annotations

from typing import Any

from django import forms

from openidds.web.implants.forms import LOCAL_FORMATS, _drug_choices, _minutes

DURATION_HELP = "Minutes."


class ComposeForm(forms.Form):
    at = forms.DateTimeField(
        label="When the pump is programmed",
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    # fill
    fill = forms.BooleanField(label="Fill or refill the reservoir", required=False)
    fill_aspirated_ml = forms.DecimalField(
        label="Aspirated (mL)", required=False, min_value=0, max_digits=6, decimal_places=2
    )
    fill_volume_ml = forms.DecimalField(
        label="Volume filled (mL)", required=False, min_value=0, max_digits=6, decimal_places=2
    )
    fill_drug_1 = forms.ChoiceField(label="Drug filled", required=False)
    fill_concentration_1 = forms.CharField(
        label="Concentration filled", max_length=40, required=False, help_text='e.g. "10 mg/mL".'
    )
    fill_drug_2 = forms.ChoiceField(label="Second drug (admixture)", required=False)
    fill_concentration_2 = forms.CharField(label="Its concentration", max_length=40, required=False)
    fill_stability_days = forms.DecimalField(
        label="Stability (days)", required=False, min_value=1, max_digits=5, decimal_places=1
    )
    bridge_bolus = forms.BooleanField(
        label="Bridge bolus after the fill (a concentration change)", required=False
    )
    priming_bolus = forms.BooleanField(label="Priming bolus", required=False)
    priming_volume_ml = forms.DecimalField(
        label="Priming volume (mL)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=4,
        help_text="Empty: the fluid path volume.",
    )
    # program
    program = forms.ChoiceField(
        label="Program",
        choices=[
            ("", "unchanged"),
            ("continuous", "continuous"),
            ("flex", "flex (steps)"),
            ("stop", "stop the pump"),
        ],
        required=False,
    )
    dose_drug = forms.ChoiceField(label="Drug dosed", required=False)
    dose = forms.CharField(
        label="Daily dose", max_length=40, required=False, help_text='e.g. "5 mg/day".'
    )
    programmed_concentration = forms.CharField(
        label="Concentration entered in the programmer",
        max_length=40,
        required=False,
        help_text='Optional, with a dose: as typed into the programmer, e.g. "10 mg/mL". '
        "The checks compare it with what is in the pump.",
    )
    rate_ml_per_day = forms.DecimalField(
        label="or a rate (mL/day)", required=False, min_value=0, max_digits=7, decimal_places=4
    )
    flex_period = forms.ChoiceField(
        label="Flex period", choices=[("day", "day"), ("week", "week")], required=False
    )
    # clinician bolus
    bolus = forms.BooleanField(label="Clinician bolus", required=False)
    bolus_drug = forms.ChoiceField(label="Bolus drug", required=False)
    bolus_dose = forms.CharField(
        label="Bolus amount", max_length=40, required=False, help_text='e.g. "0.5 mg".'
    )
    bolus_volume_ml = forms.DecimalField(
        label="or a bolus volume (mL)", required=False, min_value=0, max_digits=6, decimal_places=4
    )
    bolus_minutes = forms.DecimalField(
        label="Bolus duration",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=1,
        help_text=DURATION_HELP,
    )
    # PTM
    ptm = forms.ChoiceField(
        label="Patient therapy manager (PTM)",
        choices=[("", "unchanged"), ("on", "set (enable)"), ("off", "switch off")],
        required=False,
    )
    ptm_drug = forms.ChoiceField(label="PTM drug", required=False)
    ptm_dose = forms.CharField(
        label="PTM bolus amount", max_length=40, required=False, help_text='e.g. "0.2 mg".'
    )
    ptm_volume_ml = forms.DecimalField(
        label="or a PTM bolus volume (mL)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=4,
    )
    ptm_minutes = forms.DecimalField(
        label="PTM bolus duration",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=1,
        help_text=DURATION_HELP,
    )
    ptm_lockout_minutes = forms.DecimalField(
        label="PTM lockout",
        required=False,
        min_value=0,
        max_digits=7,
        decimal_places=1,
        help_text="Minutes from the start of the last granted bolus.",
    )
    ptm_max_per_24h = forms.IntegerField(
        label="PTM boluses at most per 24 h", required=False, min_value=1, max_value=100
    )

    def __init__(self, *args: Any, max_steps: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _drug_choices()
        for name in ("fill_drug_1", "fill_drug_2", "dose_drug", "bolus_drug", "ptm_drug"):
            self.fields[name].choices = choices  # type: ignore[attr-defined]
        self.max_steps = max_steps
        for i in range(1, max_steps + 1):
            self.fields[f"step_{i}_start"] = forms.CharField(
                label=f"Step {i} start",
                max_length=9,
                required=False,
                help_text='"HH:MM", or "Mon HH:MM" for a weekly pattern.',
            )
            self.fields[f"step_{i}_drug"] = forms.ChoiceField(
                label=f"Step {i} drug", choices=choices, required=False
            )
            self.fields[f"step_{i}_dose"] = forms.CharField(
                label=f"Step {i} daily dose", max_length=40, required=False
            )
            self.fields[f"step_{i}_rate"] = forms.DecimalField(
                label=f"Step {i} or rate (mL/day)",
                required=False,
                min_value=0,
                max_digits=7,
                decimal_places=4,
            )

    # -- groups for the template --------------------------------------------------------

    def group(self, *names: str) -> list[Any]:
        return [self[n] for n in names]

    @property
    def fill_fields(self) -> list[Any]:
        return self.group(
            "fill",
            "fill_aspirated_ml",
            "fill_volume_ml",
            "fill_drug_1",
            "fill_concentration_1",
            "fill_drug_2",
            "fill_concentration_2",
            "fill_stability_days",
            "bridge_bolus",
            "priming_bolus",
            "priming_volume_ml",
        )

    @property
    def program_fields(self) -> list[Any]:
        return self.group("program", "dose_drug", "dose", "rate_ml_per_day", "flex_period")

    @property
    def step_rows(self) -> list[list[Any]]:
        return [
            self.group(f"step_{i}_start", f"step_{i}_drug", f"step_{i}_dose", f"step_{i}_rate")
            for i in range(1, self.max_steps + 1)
        ]

    @property
    def bolus_fields(self) -> list[Any]:
        return self.group("bolus", "bolus_drug", "bolus_dose", "bolus_volume_ml", "bolus_minutes")

    @property
    def ptm_fields(self) -> list[Any]:
        return self.group(
            "ptm",
            "ptm_drug",
            "ptm_dose",
            "ptm_volume_ml",
            "ptm_minutes",
            "ptm_lockout_minutes",
            "ptm_max_per_24h",
        )

    def _given(self, prefixes: tuple[str, ...], also: tuple[str, ...] = ()) -> bool:
        """Whether any field of a section was filled in (or has an error): open it."""
        for name in self.fields:
            if name.startswith(prefixes) or name in also:
                value = self.data.get(name) if self.is_bound else None
                if value not in (None, "") or (self.is_bound and name in self.errors):
                    return True
        return False

    @property
    def fill_open(self) -> bool:
        return self._given(("fill", "priming_"), ("bridge_bolus", "priming_bolus"))

    @property
    def steps_open(self) -> bool:
        return self._given(("step_",)) or (self.is_bound and self.data.get("program") == "flex")

    @property
    def bolus_open(self) -> bool:
        return self._given(("bolus",))

    @property
    def ptm_open(self) -> bool:
        return self._given(("ptm",))

    # -- to scenario events -------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("fill"):
            if data.get("fill_volume_ml") is None:
                self.add_error("fill_volume_ml", "required with a fill")
            if not data.get("fill_drug_1"):
                self.add_error("fill_drug_1", "required with a fill")
            if not (data.get("fill_concentration_1") or "").strip():
                self.add_error("fill_concentration_1", "required with a fill")
            if data.get("fill_drug_2") and not (data.get("fill_concentration_2") or "").strip():
                self.add_error("fill_concentration_2", "give the second drug's concentration")
            if data.get("fill_drug_2") and data.get("fill_drug_2") == data.get("fill_drug_1"):
                self.add_error("fill_drug_2", "the same drug twice")
        mode = data.get("program")
        if mode == "continuous":
            by_dose = bool(data.get("dose_drug") or data.get("dose"))
            by_rate = data.get("rate_ml_per_day") is not None
            if by_dose == by_rate:
                self.add_error("dose", "give either a drug and its daily dose, or a rate")
            elif by_dose and not (data.get("dose_drug") and data.get("dose")):
                self.add_error(
                    "dose" if data.get("dose_drug") else "dose_drug", "required with a dose"
                )
        elif mode == "flex":
            given = 0
            for i in range(1, self.max_steps + 1):
                start = (data.get(f"step_{i}_start") or "").strip()
                by_dose = bool(data.get(f"step_{i}_drug") or data.get(f"step_{i}_dose"))
                by_rate = data.get(f"step_{i}_rate") is not None
                if not start and not by_dose and not by_rate:
                    continue
                given += 1
                if not start:
                    self.add_error(f"step_{i}_start", "required for a step")
                if by_dose == by_rate:
                    self.add_error(f"step_{i}_dose", "give either a drug and its dose, or a rate")
                elif by_dose and not (data.get(f"step_{i}_drug") and data.get(f"step_{i}_dose")):
                    self.add_error(f"step_{i}_dose", "give the drug and its daily dose")
            if not given:
                self.add_error("step_1_start", "a flex program needs at least one step")
        if data.get("bolus"):
            by_dose = bool(data.get("bolus_drug") or data.get("bolus_dose"))
            if by_dose == (data.get("bolus_volume_ml") is not None):
                self.add_error("bolus_dose", "give either a drug and an amount, or a volume")
            if not data.get("bolus_minutes"):
                self.add_error("bolus_minutes", "required with a bolus")
        if data.get("ptm") == "on":
            by_dose = bool(data.get("ptm_drug") or data.get("ptm_dose"))
            if by_dose == (data.get("ptm_volume_ml") is not None):
                self.add_error("ptm_dose", "give either a drug and an amount, or a volume")
            for name in ("ptm_minutes", "ptm_lockout_minutes", "ptm_max_per_24h"):
                if data.get(name) is None:
                    self.add_error(name, "required to set the PTM")
        if not self.errors and not self._parts(data):
            raise forms.ValidationError("nothing to prescribe: give at least one change")
        return data

    def _parts(self, data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        """(form prefix, kind, fields) of each change, in visit order."""
        parts: list[tuple[str, str, dict[str, Any]]] = []
        if data.get("fill"):
            drugs = {data["fill_drug_1"]: data["fill_concentration_1"].strip()}
            if data.get("fill_drug_2"):
                drugs[data["fill_drug_2"]] = data["fill_concentration_2"].strip()
            fill: dict[str, Any] = {}
            if data.get("fill_aspirated_ml") is not None:
                fill["aspirated_ml"] = float(data["fill_aspirated_ml"])
            fill["volume_ml"] = float(data["fill_volume_ml"])
            fill["drugs"] = drugs
            if data.get("fill_stability_days") is not None:
                fill["stability_days"] = float(data["fill_stability_days"])
            parts.append(("fill_", "fill", fill))
        if data.get("bridge_bolus"):
            parts.append(("bridge_", "bridge_bolus", {}))
        if data.get("priming_bolus"):
            priming: dict[str, Any] = {}
            if data.get("priming_volume_ml") is not None:
                priming["volume_ml"] = float(data["priming_volume_ml"])
            parts.append(("priming_", "priming_bolus", priming))
        mode = data.get("program")
        if mode == "continuous":
            if data.get("rate_ml_per_day") is not None:
                prog: dict[str, Any] = {
                    "mode": "continuous",
                    "rate_ml_per_day": float(data["rate_ml_per_day"]),
                }
            else:
                prog = {"mode": "continuous", "dose": {data["dose_drug"]: data["dose"].strip()}}
                told = (data.get("programmed_concentration") or "").strip()
                if told:
                    prog["programmed_concentration"] = {data["dose_drug"]: told}
            parts.append(("", "program", prog))
        elif mode == "flex":
            steps = []
            for i in range(1, self.max_steps + 1):
                start = (data.get(f"step_{i}_start") or "").strip()
                if not start:
                    continue
                if data.get(f"step_{i}_rate") is not None:
                    steps.append({"start": start, "rate_ml_per_day": float(data[f"step_{i}_rate"])})
                else:
                    steps.append(
                        {
                            "start": start,
                            "dose": {data[f"step_{i}_drug"]: data[f"step_{i}_dose"].strip()},
                        }
                    )
            parts.append(
                (
                    "",
                    "program",
                    {"mode": "flex", "period": data.get("flex_period") or "day", "steps": steps},
                )
            )
        elif mode == "stop":
            parts.append(("", "stop", {}))
        if data.get("bolus"):
            bolus: dict[str, Any] = {}
            if data.get("bolus_volume_ml") is not None:
                bolus["volume_ml"] = float(data["bolus_volume_ml"])
            else:
                bolus["dose"] = {data["bolus_drug"]: data["bolus_dose"].strip()}
            bolus["duration"] = _minutes(data["bolus_minutes"])
            parts.append(("bolus_", "bolus", bolus))
        if data.get("ptm") == "off":
            parts.append(("ptm_", "ptm_settings", {"enabled": False}))
        elif data.get("ptm") == "on":
            ptm: dict[str, Any] = {"enabled": True}
            if data.get("ptm_volume_ml") is not None:
                ptm["volume_ml"] = float(data["ptm_volume_ml"])
            else:
                ptm["dose"] = {data["ptm_drug"]: data["ptm_dose"].strip()}
            ptm["duration"] = _minutes(data["ptm_minutes"])
            ptm["lockout"] = _minutes(data["ptm_lockout_minutes"])
            ptm["max_per_24h"] = int(data["ptm_max_per_24h"])
            parts.append(("ptm_", "ptm_settings", ptm))
        return parts

    def changes(self) -> list[dict[str, Any]]:
        at = self.cleaned_data["at"]
        return [
            {"kind": kind, "at": at, "fields": fields}
            for _prefix, kind, fields in self._parts(self.cleaned_data)
        ]

    def field_for(self, key: str) -> str | None:
        """The form field of a service error key (``changes.2.dose``, ``changes.0.at``)."""
        if key in self.fields:
            return key
        pieces = key.split(".")
        if len(pieces) < 3 or pieces[0] != "changes":
            return None
        try:
            pos = int(pieces[1])
        except ValueError:
            return None
        parts = self._parts(self.cleaned_data)
        if pos >= len(parts):
            return None
        prefix, kind, _fields = parts[pos]
        name = pieces[2]
        if name == "at":
            return "at"
        if kind == "fill":
            if name == "drugs":
                return "fill_concentration_1"
            return f"fill_{name}" if f"fill_{name}" in self.fields else "fill_volume_ml"
        if kind == "program":
            if name.startswith("steps"):
                step = name.removeprefix("steps").strip("[]")
                return f"step_{int(step) + 1}_start" if step.isdigit() else "step_1_start"
            if name.startswith("programmed_concentration"):
                return "programmed_concentration"
            return "dose" if name in {"dose", "rate_ml_per_day", "mode"} else "program"
        if kind in {"bolus", "ptm_settings"}:
            mapped = {
                "dose": "dose",
                "volume_ml": "volume_ml",
                "duration": "minutes",
                "lockout": "lockout_minutes",
                "max_per_24h": "max_per_24h",
            }
            candidate = f"{prefix}{mapped.get(name, name)}"
            return candidate if candidate in self.fields else f"{prefix}dose"
        if kind == "priming_bolus":
            return "priming_volume_ml"
        return None


class SignForm(forms.Form):
    """Reasons per soft finding and the password: what signing adds to the preview."""

    password = forms.CharField(
        label="Your password (re-authentication)",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, soft_codes: list[str] = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        super().__init__(*args, **kwargs)
        for code in soft_codes:
            self.fields[f"reason_{code}"] = forms.CharField(
                label=f"Reason for accepting {code}",
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2}),
            )
        self.soft_codes = list(soft_codes)
        self.order_fields([*(f"reason_{c}" for c in soft_codes), "password"])

    def reasons(self) -> dict[str, str]:
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        return {c: data.get(f"reason_{c}", "") for c in self.soft_codes}
