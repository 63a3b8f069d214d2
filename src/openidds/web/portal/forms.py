"""Forms of the portal pages (parsing only: the services validate and write)."""

from __future__ import annotations

from typing import Any

from django import forms

from openidds.web.portal.models import ClinicContact


class AcceptForm(forms.Form):
    code = forms.CharField(
        label="Invitation code",
        max_length=40,
        required=False,
        help_text="The code your clinic (or the patient) gave you, e.g. ABCD-EFGH-JKMN.",
    )
    token = forms.CharField(required=False, widget=forms.HiddenInput, max_length=100)
    username = forms.CharField(label="User name", max_length=150)
    email = forms.EmailField(
        label="E-mail (optional)",
        required=False,
        help_text="For refill reminders. Leave it empty to get them only in the portal.",
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 12 characters, not only digits, not a common password.",
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs["autocomplete"] = "username"
        self.fields["email"].widget.attrs["autocomplete"] = "email"


class CaregiverForm(forms.Form):
    name = forms.CharField(label="Your caregiver's name", max_length=200)


class ScheduleForm(forms.Form):
    starts_at = forms.DateTimeField(
        label="Date and time",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the patient's time zone.",
    )
    note = forms.CharField(label="Note for the patient (optional)", max_length=200, required=False)
    reason_after_latest_safe = forms.CharField(
        label="Reason, if after the latest safe date",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[("done", "Done"), ("cancelled", "Cancelled")])
    reason = forms.CharField(max_length=500, required=False)


class ContactForm(forms.ModelForm[ClinicContact]):
    class Meta:
        model = ClinicContact
        fields = ["phone_24h", "phone_office", "address", "email", "emergency_note"]
