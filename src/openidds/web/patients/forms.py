from __future__ import annotations

from typing import Any

from django import forms

from openidds.web.patients.models import Patient


class PatientForm(forms.ModelForm[Patient]):
    """Renders and parses the patient fields; the service validates again and decides."""

    class Meta:
        model = Patient
        fields = [
            "name",
            "date_of_birth",
            "mrn",
            "indication",
            "opioid_tolerance",
            "allergies",
            "emergency_contact_name",
            "emergency_contact_phone",
            "time_zone",
            "status",
        ]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "allergies": forms.Textarea(attrs={"rows": 3}),
            "time_zone": forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off"}),
        }

    def validate_unique(self) -> None:
        """Uniqueness (the MRN within the clinic) is the service's to check."""


class PatientSearchForm(forms.Form):
    q = forms.CharField(label="Name or MRN", required=False, max_length=100)


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label="Action", required=False)
    actor = forms.CharField(label="User name contains", required=False, max_length=150)
    patient = forms.IntegerField(label="Patient id", required=False, min_value=1)
    since = forms.DateField(
        label="From (UTC date)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To (UTC date, inclusive)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from openidds.web.audit.models import Action

        self.fields["action"].choices = [("", "Any"), *Action.choices]  # type: ignore[attr-defined]
