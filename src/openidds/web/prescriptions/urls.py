"""Pages of prescriptions (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern, path

from openidds.web.prescriptions import views

urlpatterns: list[URLPattern] = [
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/prescriptions/",
        views.prescription_list,
        name="prescription-list",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/prescriptions/new/",
        views.prescription_new,
        name="prescription-new",
    ),
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/prescriptions/<int:prescription_id>/",
        views.prescription_detail,
        name="prescription-detail",
    ),
]
