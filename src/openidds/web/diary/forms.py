"""Forms of the diary pages. They parse and show; the services validate and write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from openidds.web.diary import data, scoring
from openidds.web.diary.services import GOAL_DIRECTIONS, THERAPY_KINDS


def _nrs_choices() -> list[tuple[int, str]]:
    scale = data.bpi()["scale"]
    return [(n, str(n)) for n in range(scale["least"], scale["most"] + 1)]


def _scale(label: str, *, required: bool, low: str = "", high: str = "") -> forms.TypedChoiceField:
    field = forms.TypedChoiceField(
        label=label,
        choices=_nrs_choices(),
        coerce=int,
        empty_value=None,
        required=required,
        widget=forms.RadioSelect(attrs={"class": "scale-input"}),
    )
    field.low = low  # type: ignore[attr-defined]
    field.high = high  # type: ignore[attr-defined]
    return field


class DateInput(forms.DateInput):
    input_type = "date"


def add_service_errors(form: forms.Form, exc: ValidationError, names: dict[str, str]) -> None:
    """Put the service's field errors on the form's fields (``names`` maps service field
    names to form field names; unknown ones go to the form as a whole)."""
    for field, found in exc.message_dict.items():
        target = names.get(field, field)
        form.add_error(target if target in form.fields else None, found)


class DiaryForm(forms.Form):
    day = forms.DateField(label="Day", required=False, widget=DateInput, help_text="Empty: today.")
    note = forms.CharField(label="Anything else today?", required=False, widget=forms.Textarea)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        sev = {i["key"]: i for i in data.bpi()["severity"]["items"]}
        low, high = sev["now"]["low"], sev["now"]["high"]
        self.fields["pain_now"] = _scale("Pain right now", required=True, low=low, high=high)
        self.fields["pain_average"] = _scale(
            "Pain on average today", required=True, low=low, high=high
        )
        self.fields["pain_worst"] = _scale(
            "Pain at its worst today", required=True, low=low, high=high
        )
        inter = data.bpi()["interference"]
        for item in inter["items"]:
            self.fields[f"int_{item['key']}"] = _scale(
                item["text"], required=False, low=inter["low"], high=inter["high"]
            )
        self.fields["adl_done"] = forms.MultipleChoiceField(
            label="What did you do on your own today?",
            required=False,
            choices=[(i["key"], i["label"]) for i in data.adl_items()],
            widget=forms.CheckboxSelectMultiple,
        )
        self.fields["sleep_hours"] = forms.DecimalField(
            label="Hours of sleep last night",
            required=False,
            min_value=0,
            max_value=data.outcomes()["sleep"]["most_hours"],
            decimal_places=1,
        )
        self.fields["sleep_quality"] = forms.ChoiceField(
            label="How well did you sleep?",
            required=False,
            choices=data.sleep_quality_choices(),
            widget=forms.RadioSelect,
        )
        self.fields["ptm_uses"] = forms.IntegerField(
            label="How many times did you use your PTM (the hand-held bolus device) today?",
            required=False,
            min_value=0,
            max_value=data.outcomes()["ptm"]["most_uses_per_day"],
        )
        self.fields["ptm_helped"] = forms.ChoiceField(
            label="Did the PTM doses help?",
            required=False,
            choices=data.ptm_helped_choices(),
            widget=forms.RadioSelect,
        )
        self.order_fields(
            ["day", "pain_now", "pain_average", "pain_worst"]
            + [f"int_{k}" for k in scoring.bpi_interference_keys()]
            + ["adl_done", "sleep_hours", "sleep_quality", "ptm_uses", "ptm_helped", "note"]
        )

    def interference_fields(self) -> list[forms.BoundField]:
        return [self[f"int_{k}"] for k in scoring.bpi_interference_keys()]

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "day": d.get("day"),
            "pain_now": d.get("pain_now"),
            "pain_average": d.get("pain_average"),
            "pain_worst": d.get("pain_worst"),
            "interference": {
                k: d[f"int_{k}"]
                for k in scoring.bpi_interference_keys()
                if d.get(f"int_{k}") is not None
            },
            "adl_done": d.get("adl_done") or [],
            "sleep_hours": d.get("sleep_hours"),
            "sleep_quality": d.get("sleep_quality") or "",
            "ptm_uses": d.get("ptm_uses"),
            "ptm_helped": d.get("ptm_helped") or "",
            "note": d.get("note") or "",
        }

    @staticmethod
    def error_names() -> dict[str, str]:
        return {f"interference.{k}": f"int_{k}" for k in scoring.bpi_interference_keys()}


class BpiForm(forms.Form):
    day = forms.DateField(label="Day", required=False, widget=DateInput, help_text="Empty: today.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = data.bpi()
        for item in rules["severity"]["items"]:
            self.fields[item["key"]] = _scale(
                item["text"], required=True, low=item["low"], high=item["high"]
            )
        relief = rules["relief"]
        self.fields["relief_percent"] = forms.TypedChoiceField(
            label=relief["text"],
            required=False,
            coerce=int,
            empty_value=None,
            choices=[("", "—")]
            + [
                (p, f"{p} %")
                for p in range(
                    relief["least_percent"], relief["most_percent"] + 1, relief["step_percent"]
                )
            ],
        )
        inter = rules["interference"]
        for item in inter["items"]:
            self.fields[item["key"]] = _scale(
                item["text"], required=False, low=inter["low"], high=inter["high"]
            )

    def severity_fields(self) -> list[forms.BoundField]:
        return [self[k] for k in scoring.bpi_severity_keys()]

    def interference_fields(self) -> list[forms.BoundField]:
        return [self[k] for k in scoring.bpi_interference_keys()]

    def answers(self) -> dict[str, Any]:
        keys = [*scoring.bpi_severity_keys(), *scoring.bpi_interference_keys(), "relief_percent"]
        return {k: self.cleaned_data.get(k) for k in keys if self.cleaned_data.get(k) is not None}


class OdiForm(forms.Form):
    day = forms.DateField(label="Day", required=False, widget=DateInput, help_text="Empty: today.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for section in data.odi()["section"]:
            self.fields[section["key"]] = forms.TypedChoiceField(
                label=section["title"],
                required=False,
                coerce=int,
                empty_value=None,
                choices=[(i, text) for i, text in enumerate(section["statements"])]
                + [("", "Leave this section out (it does not apply to me)")],
                widget=forms.RadioSelect,
            )

    def sections(self) -> list[forms.BoundField]:
        return [self[k] for k in scoring.odi_section_keys()]

    def answers(self) -> dict[str, Any]:
        return {
            k: self.cleaned_data.get(k)
            for k in scoring.odi_section_keys()
            if self.cleaned_data.get(k) is not None
        }


YES_NO = [("yes", "Yes"), ("no", "No")]


class CheckInForm(forms.Form):
    note = forms.CharField(label="Anything else today?", required=False, widget=forms.Textarea)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for flag in data.red_flags():
            self.fields[f"flag_{flag.key}"] = forms.ChoiceField(
                label=flag.question,
                choices=YES_NO,
                widget=forms.RadioSelect,
                error_messages={"required": "Answer yes or no."},
            )
        sev = {i["key"]: i for i in data.bpi()["severity"]["items"]}
        self.fields["pain_today"] = _scale(
            "Your pain today", required=False, low=sev["now"]["low"], high=sev["now"]["high"]
        )
        self.order_fields([f"flag_{f.key}" for f in data.red_flags()] + ["pain_today", "note"])

    def flag_fields(self) -> list[forms.BoundField]:
        return [self[f"flag_{f.key}"] for f in data.red_flags()]

    def answers(self) -> dict[str, bool]:
        return {f.key: self.cleaned_data[f"flag_{f.key}"] == "yes" for f in data.red_flags()}

    @staticmethod
    def error_names() -> dict[str, str]:
        return {f.key: f"flag_{f.key}" for f in data.red_flags()}


class ProgressForm(forms.Form):
    goal_key = forms.CharField(widget=forms.HiddenInput, max_length=40)
    value = forms.DecimalField(label="Where are you now?", min_value=0, decimal_places=2)
    day = forms.DateField(label="Day", required=False, widget=DateInput, help_text="Empty: today.")
    note = forms.CharField(label="Note", required=False, max_length=2000)


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="What was done (e.g. called the patient, seen in clinic)",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )


class PlanForm(forms.Form):
    """The plan with rows for goals, therapies and review dates (empty rows are ignored)."""

    agreed_on = forms.DateField(
        label="Agreed with the patient on", required=False, widget=DateInput
    )
    note = forms.CharField(
        label="What changed and why", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(
        self, *args: Any, goals: int = 4, therapies: int = 5, reviews: int = 3, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.n_goals, self.n_therapies, self.n_reviews = goals, therapies, reviews
        for i in range(1, goals + 1):
            self.fields[f"goal_{i}_key"] = forms.CharField(required=False, widget=forms.HiddenInput)
            self.fields[f"goal_{i}_text"] = forms.CharField(
                label=f"Goal {i}", required=False, max_length=300
            )
            self.fields[f"goal_{i}_measure"] = forms.CharField(
                label="Measured as", required=False, max_length=300
            )
            self.fields[f"goal_{i}_target"] = forms.DecimalField(
                label="Target", required=False, min_value=0, decimal_places=2
            )
            self.fields[f"goal_{i}_unit"] = forms.CharField(
                label="Unit", required=False, max_length=40
            )
            self.fields[f"goal_{i}_direction"] = forms.ChoiceField(
                label="Reached when the value is",
                choices=list(GOAL_DIRECTIONS.items()),
                required=False,
            )
        for i in range(1, therapies + 1):
            self.fields[f"therapy_{i}_kind"] = forms.ChoiceField(
                label=f"Therapy {i}",
                choices=[("", "—"), *THERAPY_KINDS.items()],
                required=False,
            )
            self.fields[f"therapy_{i}_description"] = forms.CharField(
                label="What", required=False, max_length=300
            )
            self.fields[f"therapy_{i}_schedule"] = forms.CharField(
                label="Schedule", required=False, max_length=300
            )
        for i in range(1, reviews + 1):
            self.fields[f"review_{i}"] = forms.DateField(
                label=f"Review date {i}", required=False, widget=DateInput
            )

    def goal_rows(self) -> list[dict[str, forms.BoundField]]:
        return [
            {
                part: self[f"goal_{i}_{part}"]
                for part in ("key", "text", "measure", "target", "unit", "direction")
            }
            for i in range(1, self.n_goals + 1)
        ]

    def therapy_rows(self) -> list[dict[str, forms.BoundField]]:
        return [
            {part: self[f"therapy_{i}_{part}"] for part in ("kind", "description", "schedule")}
            for i in range(1, self.n_therapies + 1)
        ]

    def review_fields(self) -> list[forms.BoundField]:
        return [self[f"review_{i}"] for i in range(1, self.n_reviews + 1)]

    def service_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        goals = []
        for i in range(1, self.n_goals + 1):
            parts = {
                p: d.get(f"goal_{i}_{p}")
                for p in ("key", "text", "measure", "target", "unit", "direction")
            }
            if not any(parts[p] not in (None, "") for p in ("text", "measure", "target")):
                continue
            goals.append(parts)
        therapies = []
        for i in range(1, self.n_therapies + 1):
            parts = {
                p: d.get(f"therapy_{i}_{p}") or "" for p in ("kind", "description", "schedule")
            }
            if any(parts.values()):
                therapies.append(parts)
        reviews = [d[f"review_{i}"] for i in range(1, self.n_reviews + 1) if d.get(f"review_{i}")]
        return {
            "goals": goals,
            "therapies": therapies,
            "review_dates": reviews,
            "agreed_on": d.get("agreed_on"),
            "note": d.get("note") or "",
        }

    @staticmethod
    def initial_from(plan: Any) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        if plan is None:
            return initial
        for i, goal in enumerate(plan.goals, start=1):
            for part in ("key", "text", "measure", "target", "unit", "direction"):
                initial[f"goal_{i}_{part}"] = goal.get(part)
        for i, therapy in enumerate(plan.therapies, start=1):
            for part in ("kind", "description", "schedule"):
                initial[f"therapy_{i}_{part}"] = therapy.get(part)
        for i, day in enumerate(plan.review_dates, start=1):
            initial[f"review_{i}"] = day
        initial["agreed_on"] = plan.agreed_on
        return initial


class TemplateForm(forms.Form):
    note = forms.CharField(
        label="What changed and why", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, weeks: int = 8, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n_weeks = weeks
        for i in range(1, weeks + 1):
            self.fields[f"week_{i}_title"] = forms.CharField(
                label=f"Week {i}: title", required=False, max_length=300
            )
            self.fields[f"week_{i}_instructions"] = forms.CharField(
                label=f"Week {i}: instructions, one per line",
                required=False,
                widget=forms.Textarea(attrs={"rows": 5}),
            )

    def week_rows(self) -> list[dict[str, forms.BoundField]]:
        return [
            {"title": self[f"week_{i}_title"], "instructions": self[f"week_{i}_instructions"]}
            for i in range(1, self.n_weeks + 1)
        ]

    def weeks(self) -> list[dict[str, Any]]:
        out = []
        for i in range(1, self.n_weeks + 1):
            title = self.cleaned_data.get(f"week_{i}_title") or ""
            text = self.cleaned_data.get(f"week_{i}_instructions") or ""
            if not title.strip() and not text.strip():
                continue
            out.append({"title": title, "instructions": text.splitlines()})
        return out

    @staticmethod
    def initial_from(weeks: list[dict[str, Any]]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for i, week in enumerate(weeks, start=1):
            initial[f"week_{i}_title"] = week["title"]
            initial[f"week_{i}_instructions"] = "\n".join(week["instructions"])
        return initial
