from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from openidds.web import views
from openidds.web.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        views.LoginView.as_view(),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("clinics/<slug:clinic>/patients/", views.patient_list, name="patient-list"),
    path("clinics/<slug:clinic>/patients/new/", views.patient_create, name="patient-create"),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/",
        views.patient_detail,
        name="patient-detail",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/edit/",
        views.patient_edit,
        name="patient-edit",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/implants/new/",
        views.implant_create,
        name="implant-create",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/implants/<int:implant_id>/explant/",
        views.implant_explant,
        name="implant-explant",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/pump/<slug:kind>/new/",
        views.pump_event_create,
        name="pump-event-create",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/pump/events/<int:event_id>/correct/",
        views.pump_event_correct,
        name="pump-event-correct",
    ),
    path("clinics/<slug:clinic>/audit/", views.audit_log, name="audit-log"),
    path("api/v1/", api.urls),
    path("", include("openidds.web.prescriptions.urls")),
    path("", include("openidds.web.refills.urls")),
    path("", include("openidds.web.worklists.urls")),
    path("", include("openidds.web.clinicadmin.urls")),
    path("", include("openidds.web.portal.urls")),
    path("", include("openidds.web.diary.urls")),
    path("", include("openidds.web.community.urls")),
    # Django admin: operators' and clinic admins' own objects only (openidds.web.clinicadmin)
    path("admin/", admin.site.urls),
]

handler403 = "openidds.web.errors.forbidden"
handler404 = "openidds.web.errors.not_found"
