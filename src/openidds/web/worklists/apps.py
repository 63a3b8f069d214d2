from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    """The landing page of nurses and physicians: what needs doing, from the fleet forecast."""

    name = "openidds.web.worklists"
    label = "worklists"
    verbose_name = "Worklists"

    def ready(self) -> None:
        from openidds.web.implants.signals import pump_timeline_changed
        from openidds.web.worklists.snapshots import on_timeline_changed

        pump_timeline_changed.connect(on_timeline_changed, dispatch_uid="worklists.pump_snapshot")
