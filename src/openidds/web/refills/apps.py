from django.apps import AppConfig


class RefillsConfig(AppConfig):
    """The nurse's refill visit: expected residual, checklist, discrepancy check and physician
    acknowledgement.
    """

    name = "openidds.web.refills"
    label = "refills"
    verbose_name = "Refill visits"

    def ready(self) -> None:
        from openidds.web.refills.worklist import ORDER, TITLE, open_discrepancies_provider
        from openidds.web.worklists.registry import register

        register("open_discrepancies", TITLE, open_discrepancies_provider, order=ORDER)
