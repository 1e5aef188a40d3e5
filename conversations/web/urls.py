"""The avatar page, the staff replay page and the default avatar's GLB.

Included at the site root by avatar_project/urls.py.
"""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.page, name="avatar-page"),
    path("replay/<uuid:session_id>/", views.replay, name="avatar-replay"),
    path("avatars/<int:avatar_id>/model.glb", views.avatar_glb, name="avatar-glb"),
]
