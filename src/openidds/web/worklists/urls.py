"""Pages of worklists (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern, path

from openidds.web.worklists import views

urlpatterns: list[URLPattern] = [
    path("clinics/<slug:clinic>/worklist/", views.worklist, name="worklist"),
]
