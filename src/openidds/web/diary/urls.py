"""Pages of diary and recovery (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern, path

from openidds.web.diary import views

urlpatterns: list[URLPattern] = [
    path("portal/p/<int:patient_id>/diary/", views.portal_diary, name="portal-diary"),
    path("portal/p/<int:patient_id>/diary/bpi/", views.portal_bpi, name="portal-diary-bpi"),
    path("portal/p/<int:patient_id>/diary/odi/", views.portal_odi, name="portal-diary-odi"),
    path("portal/p/<int:patient_id>/recovery/", views.portal_recovery, name="portal-recovery"),
    path(
        "portal/p/<int:patient_id>/recovery/check-ins/<int:checkin_id>/",
        views.portal_checkin,
        name="portal-recovery-checkin",
    ),
    path("portal/p/<int:patient_id>/plan/", views.portal_plan, name="portal-plan"),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/plan/",
        views.clinic_plan,
        name="diary-plan-edit",
    ),
    path(
        "clinics/<slug:clinic>/recovery-template/",
        views.clinic_recovery_template,
        name="diary-recovery-template",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/red-flags/<int:flag_id>/resolve/",
        views.clinic_resolve_red_flag,
        name="diary-red-flag-resolve",
    ),
]
