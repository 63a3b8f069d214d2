from django.apps import AppConfig


class PrescriptionsConfig(AppConfig):
    """Signed, versioned prescriptions: a physician's change to the pump, checked, diffed,
    forecast and re-authenticated.
    """

    name = "openidds.web.prescriptions"
    label = "prescriptions"
    verbose_name = "Prescriptions"
