"""Users, clinics and the role a user has in a clinic."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who logs in: clinic staff or (later, through the portal) a patient.

    Custom from the first migration so that fields can be added without a painful swap.
    What a user may do is decided per clinic by :class:`Membership`, not by Django's
    global permissions (``is_staff``/``is_superuser`` are for operators only).
    """

    display_name = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class Clinic(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"
    PHYSICIAN = "physician", "Physician"
    NURSE = "nurse", "Nurse"
    PATIENT = "patient", "Patient"
    #: invited by a patient: reads the patient's portal and writes diary entries
    CAREGIVER = "caregiver", "Caregiver"
    #: the manufacturer's product support: sees only the questions routed to it
    SUPPORT = "support", "Manufacturer support"


class Membership(models.Model):
    """The one role a user has in one clinic.

    Never deleted (the audit log refers to the people who acted): a clinic admin
    deactivates a membership instead (``is_active=False``), which takes every right in
    that clinic away; :mod:`openidds.web.accounts.roles` reads only active memberships.
    Changes go through :mod:`openidds.web.clinicadmin.services`.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    is_active = models.BooleanField(
        default=True, help_text="Unset instead of deleting: the user keeps no right here."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "clinic"], name="one_role_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="membership_role_known"
            ),
        ]

    def __str__(self) -> str:
        inactive = "" if self.is_active else " (deactivated)"
        return f"{self.user} — {self.get_role_display()} at {self.clinic}{inactive}"
