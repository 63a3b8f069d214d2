from django.apps import AppConfig


class CommunityConfig(AppConfig):
    """Questions to the clinic or the manufacturer's support, patient stories, learning pages."""

    name = "openidds.web.community"
    label = "community"
    verbose_name = "Questions, stories and learning"
