"""The client API: HTTP JSON views and the WebSocket stream of a session's events.

See docs/protocol.md. Security (origin check, token or staff access) is composed in the
ASGI stack (``avatar_project/asgi.py``, ``auth.py``); consumers and views stay thin.
"""
