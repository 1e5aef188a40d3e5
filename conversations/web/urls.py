"""The avatar page and the staff replay page; included at the site root by avatar_project/urls.py."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.page, name="avatar-page"),
    path("replay/<uuid:session_id>/", views.replay, name="avatar-replay"),
]
