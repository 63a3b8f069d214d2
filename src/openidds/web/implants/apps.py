from django.apps import AppConfig


class ImplantsConfig(AppConfig):
    name = "openidds.web.implants"
    label = "implants"
    verbose_name = "Implants and pump events"
