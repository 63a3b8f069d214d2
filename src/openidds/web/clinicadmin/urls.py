"""Pages of clinic administration (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern, path

from openidds.web.clinicadmin import views

urlpatterns: list[URLPattern] = [
    path("clinics/<slug:clinic>/users/", views.users, name="clinic-users"),
    path("clinics/<slug:clinic>/users/<int:member_id>/", views.member, name="clinic-member"),
    path("clinics/<slug:clinic>/drug-library/", views.drug_library, name="clinic-drug-library"),
]
