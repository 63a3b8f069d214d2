from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "openidds.web.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from openidds.web.audit import signals  # noqa: F401  (connects the log-in receivers)
