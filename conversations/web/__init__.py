"""The avatar chat page (template + static ES modules); the API lives in conversations.api."""
