"""ASGI entry point (daphne). WebSocket routes are composed here, behind the security stack.

From the outside in: the Origin must be one of ALLOWED_HOSTS (no cross-site
WebSocket hijacking with a staff cookie), the login cookie becomes ``scope["user"]``,
and each session route checks its token or staff access before its consumer runs
(``conversations/api/routing.py``). Consumers never check access themselves.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatar_project.settings")
django_asgi_app = get_asgi_application()

# These need Django set up first.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from conversations.api.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
