"""Django settings.

Two modes, chosen by the environment alone:

* **Embedded** (nothing set): SQLite under ``var/``, an in-memory channel layer,
  Celery tasks executed in-process (a thread per queue), offline engines.
* **Services**: ``DATABASE_URL`` (PostgreSQL via psycopg 3) and ``REDIS_URL``
  (Celery broker + channel layer) switch to real workers.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AVATAR_HOME", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use SECRET_KEY from the environment, else a per-installation key kept in var/."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "conversations",
    "synthesis",
    "animation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the page's JS, CSS and three.js) straight from daphne: one process
    # serves the whole product; behind a proxy, collectstatic + the proxy works too.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "avatar_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "avatar_project.wsgi.application"
ASGI_APPLICATION = "avatar_project.asgi.application"

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("AVATAR_SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            "OPTIONS": {
                # Writers from several threads (one per in-process queue): take the
                # write lock at BEGIN so two transactions never deadlock on upgrade,
                # and wait instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not :memory:, so in-process worker threads see the same data.
            "TEST": {"NAME": str(VAR_DIR / "test_db.sqlite3")},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ru"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS: list[Path | tuple[str, Path]] = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at every start when it is missing
# Serve from the app and node_modules folders directly, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("AVATAR_MEDIA_ROOT", VAR_DIR / "media"))

# --- Redis: Celery broker and channel layer ---------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # redis-py 8 made 5 s the default socket timeout, the same as channels_redis' blocking
    # BZPOPMIN wait: every idle WebSocket consumer then crashes after ~5 s with "Timeout
    # reading from" Redis (django/channels_redis#422). Let the blocking read finish.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Shared counters (rate limits) must be shared by every process in the services mode.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# "celery": tasks go to the broker and real workers; "in-process": the same task
# code runs on a thread per queue inside this process (the embedded default).
AVATAR_TASK_MODE = os.environ.get("AVATAR_TASK_MODE", "celery" if REDIS_URL else "in-process")

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# A task lost with its worker is redelivered; tasks are idempotent so this is safe.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- The avatar ---------------------------------------------------------------
AVATAR_CONFIG_FILE = Path(
    os.environ.get("AVATAR_CONFIG_FILE", BASE_DIR / "avatar_project" / "models_config.yaml")
)
AVATAR_MODELS_DIR = Path(os.environ.get("AVATAR_MODELS_DIR", VAR_DIR / "models"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("AVATAR_LOG_LEVEL", "WARNING")},
    "loggers": {
        "avatar": {"level": os.environ.get("AVATAR_LOG_LEVEL", "INFO"), "propagate": True},
    },
}

# --- Client API: WebSocket stream and HTTP (conversations/api) -----------------------
# Added for the live page; see docs/protocol.md. Each limit is (count, period in seconds).
AVATAR_WS_MAX_FRAME_BYTES = int(os.environ.get("AVATAR_WS_MAX_FRAME_BYTES", 16 * 1024))
# Per connection: a burst of frames, then a steady rate (a token bucket).
AVATAR_WS_FRAME_BURST = int(os.environ.get("AVATAR_WS_FRAME_BURST", 20))
AVATAR_WS_FRAMES_PER_SECOND = float(os.environ.get("AVATAR_WS_FRAMES_PER_SECOND", 5))
# Per session, over every connection and HTTP: user messages (each starts an LLM turn).
AVATAR_SAY_LIMIT = (int(os.environ.get("AVATAR_SAY_LIMIT", 12)), 60)
# Per client address: new sessions (POST /api/sessions is open to anyone).
AVATAR_SESSION_CREATE_LIMIT = (int(os.environ.get("AVATAR_SESSION_CREATE_LIMIT", 200)), 3600)
# Behind an HTTPS proxy, list the public origin(s) here so CSRF accepts the staff forms.
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# --- The avatar page: three.js from npm (see package.json) -----------------------------
# `npm ci` installs it under node_modules/ (git-ignored); staticfiles serves the module
# build and the addon folders the page imports (RoomEnvironment; GLTFLoader and the utils it
# imports, for uploaded GLB avatars) from /static/vendor/three/. No CDN: the page's importmap
# points here.
_THREE_ADDONS = BASE_DIR / "node_modules" / "three" / "examples" / "jsm"
STATICFILES_DIRS += [
    ("vendor/three/build", BASE_DIR / "node_modules" / "three" / "build"),
    *((f"vendor/three/addons/{folder}", _THREE_ADDONS / folder) for folder in ("environments", "loaders", "utils")),
]
