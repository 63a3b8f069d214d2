"""Pages of patient portal (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
