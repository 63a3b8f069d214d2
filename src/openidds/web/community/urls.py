"""Pages of questions, stories and learning (included at the site root by ``openidds.web.urls``)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
