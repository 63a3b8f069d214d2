"""Forms of the clinic admin's pages: they parse; the services validate again and decide."""

from __future__ import annotations

from typing import Any

from django import forms

from openidds.web.accounts.models import Role
from openidds.web.clinicadmin.library import MAX_LIBRARY_BYTES

STAFF_CHOICES = [
    (Role.CLINIC_ADMIN.value, Role.CLINIC_ADMIN.label),
    (Role.PHYSICIAN.value, Role.PHYSICIAN.label),
    (Role.NURSE.value, Role.NURSE.label),
]


class AddMemberForm(forms.Form):
    account = forms.ChoiceField(
        label="Account",
        choices=[
            ("new", "A new account (an initial password is made and shown once)"),
            ("existing", "An existing user name (e.g. a member of another clinic)"),
        ],
        initial="new",
        widget=forms.RadioSelect,
    )
    username = forms.CharField(label="User name", max_length=150)
    display_name = forms.CharField(
        label="Name shown in the app",
        max_length=200,
        required=False,
        help_text="new accounts only",
    )
    email = forms.EmailField(label="E-mail", required=False, help_text="new accounts only")
    role = forms.ChoiceField(label="Role", choices=STAFF_CHOICES)


class MemberActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("role", "deactivate", "reactivate", "unlock")]
    )
    role = forms.ChoiceField(choices=STAFF_CHOICES, required=False)


class UploadLibraryForm(forms.Form):
    file = forms.FileField(
        label="Library file (TOML)",
        required=False,
        help_text="a copy of the shipped drug_library.toml with its own [library] id and a "
        "new version (docs/drug-library.md)",
    )
    toml = forms.CharField(
        label="… or paste its text",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    note = forms.CharField(
        label="What changed, and who approved it",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_LIBRARY_BYTES:
                self.add_error("file", f"larger than {MAX_LIBRARY_BYTES // 1024} kB")
                return data
            try:
                data["toml"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("file", "not a UTF-8 text file")
        elif not data.get("toml"):
            self.add_error("file", "choose a file or paste its text")
        return data


class SelectLibraryForm(forms.Form):
    library = forms.ChoiceField(label="Library the clinic's dose checks use")
    reason = forms.CharField(
        label="Why (e.g. the committee's decision and its date)",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["library"].choices = choices  # type: ignore[attr-defined]
