from django.apps import AppConfig


class DiaryConfig(AppConfig):
    """The patient's diary, questionnaires (BPI, ODI), recovery program and check-ins, pain
    management plan.
    """

    name = "openidds.web.diary"
    label = "diary"
    verbose_name = "Diary and recovery"

    def ready(self) -> None:
        from openidds.web.diary.worklist import register_sections

        register_sections()
