from django.apps import AppConfig


class SideEffectsConfig(AppConfig):
    name = "side_effects"
    verbose_name = "Side effects"

    def ready(self):
        from core.signals import receivers_connect
        from worker.signals import job_failed

        from . import receivers

        receivers_connect("side_effects", [(job_failed, receivers.tell_side_effect_failed)])
