from django.apps import AppConfig


class ClinicadminConfig(AppConfig):
    """The clinic admin's pages: users and roles, the drug library version; Django admin for the
    clinic's own objects.
    """

    name = "openidds.web.clinicadmin"
    label = "clinicadmin"
    verbose_name = "Clinic administration"
