"""Pages of clinic administration (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
