"""HTTP routes of the client API, included under /api/ by avatar_project/urls.py."""

from __future__ import annotations

from django.urls import path, re_path

from . import views

app_name = "conversations-api"

urlpatterns = [
    path("sessions", views.create_session, name="sessions"),
    path("sessions/<uuid:session_id>/events", views.session_events, name="events"),
    path("sessions/<uuid:session_id>/messages", views.post_message, name="messages"),
    path("sessions/<uuid:session_id>/interrupt", views.interrupt, name="interrupt"),
    path("sessions/<uuid:session_id>/artifacts/<str:sha256>", views.artifact, name="artifact"),
    re_path(r"^(?P<rest>.*)$", views.not_found),
]
