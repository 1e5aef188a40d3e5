"""URL configuration: the client API under /api/, the admin, and the avatar page at /."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("conversations.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("conversations.web.urls")),
]
