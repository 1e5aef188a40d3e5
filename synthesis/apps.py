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

        def render_revision(event: RecordedEvent) -> None:
            # The per-sentence chain from its first stage; the LLM is not involved.
            d = event.data
            dispatch.send(
                "synthesis.analyze_sentiment", str(event.session_id), d["turn_id"], d["index"],
                revision=d["revision"],
            )

        services.on_user_message(start_turn)
        services.on_sentence_revised(render_revision)
