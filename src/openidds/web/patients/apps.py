from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "openidds.web.patients"
    label = "patients"
    verbose_name = "Patients"
