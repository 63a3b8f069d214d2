from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "openidds.web.accounts"
    label = "accounts"
    verbose_name = "Accounts and clinics"

    def ready(self) -> None:
        from openidds.web import checks  # noqa: F401  (registers the system checks)
