"""Forms of the refill visit pages: they render and parse; the services validate again."""

from __future__ import annotations

from typing import Any

from django import forms

from openidds.web.refills.models import AcknowledgementDecision, ChecklistItem

LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class StartForm(forms.Form):
    at = forms.DateTimeField(
        label="Refill at",
        required=False,
        input_formats=LOCAL_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: now. In the patient's time zone.",
    )


class ChecklistForm(forms.Form):
    items = forms.MultipleChoiceField(
        label="Confirm",
        choices=ChecklistItem.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "tick at least one item"},
    )

    def __init__(self, *args: Any, pending: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if pending is not None:
            self.fields["items"].choices = [  # type: ignore[attr-defined]
                (i.value, i.label) for i in ChecklistItem if i.value in pending
            ]


class AspirationForm(forms.Form):
    aspirated_ml = forms.DecimalField(
        label="Aspirated volume (mL)",
        min_value=0,
        max_digits=6,
        decimal_places=2,
        help_text="Measured in the syringe: everything withdrawn from the reservoir.",
    )
    residual_left_ml = forms.DecimalField(
        label="Left in the reservoir (mL)",
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=2,
        initial=0,
        help_text="Usually 0 (the reservoir is emptied).",
    )


class FillForm(forms.Form):
    """The fill; one concentration field per ordered drug (``conc_<drug>``)."""

    volume_ml = forms.DecimalField(
        label="Volume filled (mL)", min_value=0, max_digits=6, decimal_places=2
    )
    drug_lot = forms.CharField(label="Drug lot", max_length=64)
    drug_expiry = forms.DateField(
        label="Drug expiry date",
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, order: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order = order
        for drug, conc in order.items():
            self.fields[f"conc_{drug}"] = forms.CharField(
                label=f"Concentration of {drug} filled",
                max_length=40,
                initial=conc,
                help_text=f"As on the label, with its unit; ordered: {conc}.",
            )

    def drugs(self) -> dict[str, str]:
        return {drug: self.cleaned_data.get(f"conc_{drug}", "") for drug in self.order}

    def field_for(self, name: str) -> str | None:
        if name in self.fields:
            return name
        if name.startswith("drugs."):
            candidate = f"conc_{name.split('.', 1)[1]}"
            return candidate if candidate in self.fields else None
        return None


class AcknowledgeForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision",
        choices=AcknowledgementDecision.choices,
        widget=forms.RadioSelect,
        initial=AcknowledgementDecision.PROCEED,
    )
    note = forms.CharField(
        label="Your note",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you checked and why the refill may go ahead (or not). Required.",
    )


class AbandonForm(forms.Form):
    reason = forms.CharField(
        label="Reason", max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
