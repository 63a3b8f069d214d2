"""The clinic's drug libraries: uploaded copies and which one the clinic uses.

Both tables are append-only (the models refuse UPDATE and DELETE, and migration 0002 adds
database triggers): an uploaded library is never edited (a change is a new upload with a
new ``version``), and choosing a library is a new :class:`DrugLibrarySelection` row, so
the history of what the clinic's checks were judged against stays complete.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    """An attempt to change or delete a drug library record."""


class _AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("drug library records cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("drug library records cannot be deleted")


class _AppendOnly(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("drug library records cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("drug library records cannot be deleted")


class ClinicDrugLibrary(_AppendOnly):
    """A clinic's own copy of the drug library (TOML text as uploaded, validated by
    ``openidds.dosing.parse_library`` before it was stored)."""

    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.PROTECT, related_name="drug_libraries"
    )
    #: ``[library] id`` (here: name) and ``version`` of the file, which every check result
    #: records
    library_name = models.CharField(max_length=100, help_text="the file's [library] id")
    library_version = models.CharField(max_length=40)
    toml = models.TextField()
    sha256 = models.CharField(max_length=64)
    note = models.CharField(
        max_length=500, help_text="what changed and who approved it (the clinic's committee)"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = "clinic drug library"
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "library_name", "library_version"],
                name="clinic_library_version_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.library_name} version {self.library_version} ({self.clinic})"


class DrugLibrarySelection(_AppendOnly):
    """From ``selected_at`` on, the clinic's checks use ``library`` (None: the library
    shipped with OpenIDDS). The newest row of a clinic is in force."""

    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.PROTECT, related_name="drug_library_selections"
    )
    library = models.ForeignKey(
        ClinicDrugLibrary, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: what was chosen, as the loader saw it then (the built-in file can change with an
    #: OpenIDDS upgrade; the id and version say which one was meant)
    library_name = models.CharField(max_length=100, help_text="the file's [library] id")
    library_version = models.CharField(max_length=40)
    reason = models.CharField(max_length=500)
    selected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    selected_at = models.DateTimeField(auto_now_add=True)

    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-selected_at", "-id"]
        get_latest_by = ["selected_at", "id"]
        indexes = [models.Index(fields=["clinic", "-selected_at"], name="library_selection_at")]

    def __str__(self) -> str:
        return f"{self.clinic}: {self.library_name} version {self.library_version}"
