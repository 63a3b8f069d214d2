"""Pages of refill visits (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern, path

from openidds.web.refills import views

VISIT = "clinics/<slug:clinic>/patients/<int:patient_id>/refills/<int:visit_id>/"

urlpatterns: list[URLPattern] = [
    path(
        "clinics/<slug:clinic>/patients/<int:patient_id>/refills/new/",
        views.visit_start,
        name="refill-visit-start",
    ),
    path(VISIT, views.visit_detail, name="refill-visit"),
    path(VISIT + "checklist/", views.visit_checklist, name="refill-visit-checklist"),
    path(VISIT + "aspiration/", views.visit_aspiration, name="refill-visit-aspiration"),
    path(VISIT + "complete/", views.visit_complete, name="refill-visit-complete"),
    path(VISIT + "abandon/", views.visit_abandon, name="refill-visit-abandon"),
    path(VISIT + "acknowledge/", views.visit_acknowledge, name="refill-visit-acknowledge"),
]
