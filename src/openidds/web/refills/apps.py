from django.apps import AppConfig


class RefillsConfig(AppConfig):
    """The nurse's refill visit: expected residual, checklist, discrepancy check and physician
    acknowledgement.
    """

    name = "openidds.web.refills"
    label = "refills"
    verbose_name = "Refill visits"
