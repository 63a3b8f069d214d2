"""Forms of the questions, stories and learning pages (the services validate again)."""

from __future__ import annotations

from typing import Any

from django import forms

from openidds.web.community.models import NameChoice, PublishScope, Recipient
from openidds.web.community.services import BODY_MAX, SHARE_LABELS, STORY_MAX, SUBJECT_MAX


class AskForm(forms.Form):
    recipient = forms.ChoiceField(
        label="Ask", choices=Recipient.choices, widget=forms.RadioSelect, initial="clinic"
    )
    subject = forms.CharField(max_length=SUBJECT_MAX)
    body = forms.CharField(
        label="Your question", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 6})
    )
    share = forms.MultipleChoiceField(
        label="Share with the product support",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only for the product support. They see only what you tick here; your "
        "name only if you tick it.",
    )

    def __init__(self, *args: Any, available: dict[str, str], support: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["share"].choices = [  # type: ignore[attr-defined]
            (key, f"{label}: {available[key]}")
            for key, label in SHARE_LABELS.items()
            if key in available
        ]
        if not support:
            recipient: Any = self.fields["recipient"]
            recipient.choices = [(Recipient.CLINIC, Recipient.CLINIC.label)]
            del self.fields["share"]


class MessageForm(forms.Form):
    body = forms.CharField(
        label="Your message", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 5})
    )


class StoryForm(forms.Form):
    title = forms.CharField(max_length=SUBJECT_MAX)
    body = forms.CharField(
        label="Your story",
        max_length=STORY_MAX,
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Leave an empty line between paragraphs: you can choose paragraph by "
        "paragraph what may be published.",
    )
    scope = forms.ChoiceField(
        label="What may be published",
        choices=PublishScope.choices,
        widget=forms.RadioSelect,
        initial=PublishScope.WHOLE,
    )
    parts = forms.TypedMultipleChoiceField(
        label="Paragraphs that may be published",
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    name_choice = forms.ChoiceField(
        label="Publish under", choices=NameChoice.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args: Any, paragraphs: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["parts"].choices = [  # type: ignore[attr-defined]
            (i, f"¶ {i + 1}: {text[:80]}{'…' if len(text) > 80 else ''}")
            for i, text in enumerate(paragraphs)
        ]
        if not paragraphs:
            self.fields[
                "parts"
            ].help_text = (
                "Save the story first; then mark here the paragraphs that may be published."
            )


class ModerationForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            ("approve", "Approve and publish"),
            ("changes", "Ask the patient for changes"),
            ("reject", "Reject"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note to the patient",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required to ask for changes or to reject.",
    )


class LearnPageForm(forms.Form):
    title = forms.CharField(max_length=SUBJECT_MAX)
    body_markdown = forms.CharField(
        label="Text (Markdown)",
        widget=forms.Textarea(attrs={"rows": 24}),
        help_text="Markdown: ## heading, **bold**, - list, [link](https://…). HTML is shown "
        "as text, never run.",
    )
    note = forms.CharField(label="What changed", max_length=300, required=False)
