from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    """The landing page of nurses and physicians: what needs doing, from the fleet forecast."""

    name = "openidds.web.worklists"
    label = "worklists"
    verbose_name = "Worklists"
