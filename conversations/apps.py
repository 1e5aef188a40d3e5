from __future__ import annotations

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        from . import eventstore, projections
        from .api import publish

        # The transcript is updated in the same transaction as the log it derives from.
        eventstore.subscribe(projections.apply, after_commit=False)
        # Live clients hear only of committed events (WebSocket groups, conversations/api).
        eventstore.subscribe(publish.publish, after_commit=True)
