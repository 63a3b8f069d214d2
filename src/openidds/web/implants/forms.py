from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from openidds.web.implants.models import Implant, pump_model_choices


class ImplantForm(forms.ModelForm[Implant]):
    """Renders and parses an implant; the service validates again and decides."""

    class Meta:
        model = Implant
        fields = [
            "pump_model",
            "serial",
            "implanted_at",
            "catheter_model",
            "catheter_length_cm",
            "fluid_path_ml",
            "fluid_path_initial",
            "fixed_rate_ml_per_day",
        ]
        widgets = {"implanted_at": forms.DateTimeInput(attrs={"type": "datetime-local"})}

    def __init__(self, *args: Any, time_zone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pump_model"] = forms.ChoiceField(
            label="Pump model", choices=[("", "—"), *pump_model_choices()]
        )
        self.fields[
            "implanted_at"
        ].help_text = f"Date and time in the patient's time zone ({time_zone})."
        self.fields["implanted_at"].input_formats = [  # type: ignore[attr-defined]
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ]

    def validate_unique(self) -> None:
        """One active implant per patient is the service's to check."""

    def _post_clean(self) -> None:
        """No model validation here: the service does it (and names every field)."""


class ExplantForm(forms.Form):
    at = forms.DateTimeField(
        label="Explanted at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reason = forms.CharField(
        label="Reason", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


def _drug_choices() -> list[tuple[str, str]]:
    from openidds.web.implants.twin import _library

    return [("", "—"), *((d.id, d.name) for d in _library().drugs.values())]


LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class FillForm(forms.Form):
    """A fill or refill as the nurse records it; turned into the scenario's fill fields."""

    at = forms.DateTimeField(
        label="When",
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    aspirated_ml = forms.DecimalField(
        label="Aspirated (mL)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=2,
        help_text="Measured volume withdrawn; empty only at the first fill of a new pump.",
    )
    nothing_aspirated = forms.BooleanField(
        label="Nothing could be aspirated",
        required=False,
        help_text="Records 0 mL: a discrepancy a physician must look at before the pump is filled.",
    )
    volume_ml = forms.DecimalField(
        label="Volume filled (mL)", min_value=0, max_digits=6, decimal_places=2
    )
    drug_1 = forms.ChoiceField(label="Drug")
    concentration_1 = forms.CharField(
        label="Concentration", max_length=40, help_text='With its unit, e.g. "10 mg/mL".'
    )
    drug_2 = forms.ChoiceField(label="Second drug (admixture)", required=False)
    concentration_2 = forms.CharField(label="Its concentration", max_length=40, required=False)
    stability_days = forms.DecimalField(
        label="Stability (days)", required=False, min_value=1, max_digits=5, decimal_places=1
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _drug_choices()
        self.fields["drug_1"].choices = choices  # type: ignore[attr-defined]
        self.fields["drug_2"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("drug_2") and not data.get("concentration_2"):
            self.add_error("concentration_2", "give the second drug's concentration")
        if data.get("drug_2") and data.get("drug_2") == data.get("drug_1"):
            self.add_error("drug_2", "the same drug twice")
        if data.get("nothing_aspirated") and data.get("aspirated_ml") not in (None, 0):
            self.add_error(
                "aspirated_ml", "you ticked “nothing could be aspirated”: leave this empty"
            )
        return data

    def scenario_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        drugs = {data["drug_1"]: data["concentration_1"].strip()}
        if data.get("drug_2"):
            drugs[data["drug_2"]] = data["concentration_2"].strip()
        fields: dict[str, Any] = {}
        if data.get("nothing_aspirated"):
            fields["aspirated_ml"] = 0.0
        elif data.get("aspirated_ml") is not None:
            fields["aspirated_ml"] = float(data["aspirated_ml"])
        fields["volume_ml"] = float(data["volume_ml"])
        fields["drugs"] = drugs
        if data.get("stability_days") is not None:
            fields["stability_days"] = float(data["stability_days"])
        return fields

    def field_for(self, scenario_field: str) -> str | None:
        if scenario_field in self.fields:
            return scenario_field
        if scenario_field.startswith("drugs."):
            drug = scenario_field.split(".", 1)[1]
            return (
                "concentration_2" if drug == self.cleaned_data.get("drug_2") else "concentration_1"
            )
        return None


def _minutes(value: Decimal) -> str:
    """An ISO 8601 duration of whole or fractional minutes (``PT15M``, ``PT0.5M``)."""
    return f"PT{value.normalize():f}M"


class MriForm(forms.Form):
    """An MRI scan (physician or nurse): the pump's motor stalls for the scan."""

    at = forms.DateTimeField(
        label="Scan started",
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    duration_minutes = forms.DecimalField(
        label="Scan duration (minutes)", min_value=0, max_digits=6, decimal_places=1
    )
    recovery_minutes = forms.DecimalField(
        label="Motor recovery after the scan (minutes)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=1,
        help_text="Empty: none.",
    )

    def scenario_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {"duration": _minutes(data["duration_minutes"])}
        if data.get("recovery_minutes") is not None:
            fields["recovery"] = _minutes(data["recovery_minutes"])
        return fields

    def field_for(self, scenario_field: str) -> str | None:
        return {"duration": "duration_minutes", "recovery": "recovery_minutes"}.get(
            scenario_field, scenario_field if scenario_field in self.fields else None
        )


REPORTED_ALARMS = [
    ("low_reservoir", "Low reservoir"),
    ("empty_reservoir", "Empty reservoir"),
    ("motor_stall", "Motor stall"),
    ("motor_stall_recovery", "Motor stall recovery"),
    ("eri", "Elective replacement indicator (ERI)"),
    ("eos", "End of service (EOS)"),
]


class InterrogationForm(forms.Form):
    """What the pump reported when read with the clinician programmer (physician or nurse):
    the dose checks compare it with the twin."""

    at = forms.DateTimeField(
        label="Read at",
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    reservoir_ml = forms.DecimalField(
        label="Reservoir volume the pump reports (mL)",
        required=False,
        min_value=0,
        max_value=100,
        max_digits=6,
        decimal_places=2,
    )
    alarms = forms.MultipleChoiceField(
        label="Alarms in the pump's log",
        required=False,
        choices=REPORTED_ALARMS,
        widget=forms.CheckboxSelectMultiple,
    )
    battery = forms.ChoiceField(
        label="Battery",
        required=False,
        choices=[("", "not read"), ("ok", "OK"), ("eri", "ERI"), ("eos", "EOS")],
    )

    def scenario_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields: dict[str, Any] = {}
        if data.get("reservoir_ml") is not None:
            fields["reservoir_ml"] = float(data["reservoir_ml"])
        if data.get("alarms"):
            fields["alarms"] = list(data["alarms"])
        if data.get("battery"):
            fields["battery"] = data["battery"]
        return fields

    def field_for(self, scenario_field: str) -> str | None:
        return scenario_field if scenario_field in self.fields else None


class CatheterRevisionForm(forms.Form):
    """A catheter revision (physician): the new path volume and how much of it is drug-free;
    a priming bolus must follow (prescribed)."""

    at = forms.DateTimeField(
        label="Revised at",
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    fluid_path_ml = forms.DecimalField(
        label="Fluid path volume after the revision (mL)",
        required=False,
        min_value=Decimal("0.001"),
        max_value=5,
        max_digits=6,
        decimal_places=3,
        help_text="Empty: unchanged.",
    )
    drug_free_ml = forms.DecimalField(
        label="Drug-free volume at the catheter tip (mL)",
        required=False,
        min_value=0,
        max_value=5,
        max_digits=6,
        decimal_places=3,
        help_text="Empty: the whole path is drug-free.",
    )

    def scenario_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: float(data[name])
            for name in ("fluid_path_ml", "drug_free_ml")
            if data.get(name) is not None
        }

    def field_for(self, scenario_field: str) -> str | None:
        return scenario_field if scenario_field in self.fields else None


class CorrectionForm(forms.Form):
    at = forms.DateTimeField(
        label="When (corrected)",
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    fields_json = forms.CharField(
        label="Fields (scenario format, JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='As in the record, e.g. {"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}.',
    )
    void = forms.BooleanField(label="Withdraw this record (it never happened)", required=False)
    reason = forms.CharField(
        label="Why is it corrected?", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
