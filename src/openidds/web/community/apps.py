from django.apps import AppConfig


class CommunityConfig(AppConfig):
    """Questions to the clinic or the manufacturer's support, patient stories, learning pages."""

    name = "openidds.web.community"
    label = "community"
    verbose_name = "Questions, stories and learning"

    def ready(self) -> None:
        from openidds.web.community.services import unanswered_items
        from openidds.web.worklists.registry import register

        register("community-questions", "Unanswered patient questions", unanswered_items, order=60)
