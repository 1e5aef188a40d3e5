from __future__ import annotations

from django.apps import AppConfig


class SynthesisConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "synthesis"
    verbose_name = "Synthesis chain"

    def ready(self) -> None:
        from conversations import services
        from conversations.eventstore import RecordedEvent

        from . import dispatch, tasks  # noqa: F401 - registers the Celery tasks

        def start_turn(event: RecordedEvent) -> None:
            dispatch.send("synthesis.generate_reply", str(event.session_id), event.data["turn_id"])

        services.on_user_message(start_turn)
