from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The patient portal: invitations, caregivers, my pump, wallet card, calendar, reminders."""

    name = "openidds.web.portal"
    label = "portal"
    verbose_name = "Patient portal"
