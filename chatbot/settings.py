"""Settings, all read from the environment (12-factor) with safe development defaults.

Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from accounts import configuration as accounts_configuration
from catalogue.file import load_models_file
from chatbot.env import (
    env_bool,
    env_choice,
    env_database_url,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent


# --- Core -------------------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
    "csp",
    "accounts",
    "conversations",
    "usage",
    "sharing",
    "catalogue",
    "openai_api",
    "attachments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chatbot.forks.whitenoise.AsyncWhiteNoiseMiddleware",
    "chatbot.middleware.OutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.preferences.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.UserSessionsMiddleware",
    "accounts.middleware.MfaEnrolmentMiddleware",
]

ROOT_URLCONF = "chatbot.urls"
WSGI_APPLICATION = "chatbot.wsgi.application"
ASGI_APPLICATION = "chatbot.asgi.application"

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
                "conversations.context_processors.chat",
            ],
        },
    },
]

AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Database ---------------------------------------------------------------------------

_default_sqlite = BASE_DIR / "var" / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_database_url("DATABASE_URL", f"sqlite:///{_default_sqlite}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0),
        conn_health_checks=True,
    )
}
_db = DATABASES["default"]
# Read (and so validated) whatever the database: a bad value is caught before a move to SQLite.
SQLITE_BUSY_TIMEOUT = env_int("SQLITE_BUSY_TIMEOUT", 30, minimum=0)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on the busy timeout instead of failing with "database is locked".
    _db["OPTIONS"] = {
        "timeout": SQLITE_BUSY_TIMEOUT,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    # A file, not shared-cache memory: shared cache ignores the busy timeout across threads.
    _db["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
elif _db["ENGINE"].startswith("django.db.backends.postgresql"):
    _db["TEST"] = {"NAME": f"test_{_db['NAME']}_{os.getpid()}"}
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1))
    if env_bool("DATABASE_POOL", False):
        # psycopg's pool keeps connections warm; Django requires CONN_MAX_AGE = 0 with it.
        _db["CONN_MAX_AGE"] = 0
        _db["OPTIONS"]["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN", 2, minimum=0),
            "max_size": env_int("DATABASE_POOL_MAX", 20, minimum=1),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }

# --- Cache and Channels -----------------------------------------------------------------

REDIS_URL = env_url("REDIS_URL", ("redis", "rediss", "unix"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "chatbot",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times out reads after 5 s by default, exactly channels-redis'
                # blocking-pop time: idle sockets would then die. Give reads more room.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": "chatbot",
                "capacity": 1000,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chatbot.forks.layers.FastGroupSendLayer",
            "CONFIG": {"capacity": 1000},
        }
    }

# --- Auth -------------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "chat"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env_choice(
    "ACCOUNT_EMAIL_VERIFICATION", "optional", ("mandatory", "optional", "none")
)
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/h/ip",
    "reset_password": "20/m/ip,5/m/key",
}

# Two-factor (TOTP, recovery codes, passkeys), single sign-on and signed-in sessions, all
# allauth's; accounts.configuration validates the variables (a bad one stops the start).
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.auth_forms.PolicyLoginForm"}
CHATBOT_REQUIRE_MFA = accounts_configuration.mfa_policy(env_str("CHATBOT_REQUIRE_MFA", "off"))
CHATBOT_SSO_ONLY = env_bool("CHATBOT_SSO_ONLY", False)
MFA_ADAPTER = "accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = env_str("CHATBOT_MFA_ISSUER", "Chatbot")
# Signing in with a passkey alone; with SSO only, the identity provider is the only door.
MFA_PASSKEY_LOGIN_ENABLED = not CHATBOT_SSO_ONLY
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env_bool("CHATBOT_WEBAUTHN_ALLOW_HTTP", DEBUG)
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, Any]] = {
    "openid_connect": {
        "APPS": accounts_configuration.oidc_providers(env_str("CHATBOT_OIDC_PROVIDERS")),
        "OAUTH_PKCE_ENABLED": True,
    }
}
# A provider's verified e-mail signs in (and links) the local account with that address.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
CHATBOT_OIDC_GROUPS_CLAIM = env_str("CHATBOT_OIDC_GROUPS_CLAIM", "groups")
CHATBOT_OIDC_GROUP_MAP = accounts_configuration.oidc_group_map(env_str("CHATBOT_OIDC_GROUP_MAP"))
USERSESSIONS_TRACK_ACTIVITY = True
# How often a browser's "last seen" is written (each request would be a write).
CHATBOT_SESSION_SEEN_INTERVAL = env_int("CHATBOT_SESSION_SEEN_INTERVAL", 60)

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chatbot@localhost")

# --- Security ---------------------------------------------------------------------------

_secure_default = not DEBUG
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", _secure_default)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", _secure_default)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# Reverse proxies in front of the app that append to X-Forwarded-For; rate limits key on the
# client address they report (0: the peer address, and the header is ignored).
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0, minimum=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 256 * 1024, minimum=1)
# The import takes a whole ChatGPT export: spooled to a temporary file, parsed streaming.
CHATBOT_IMPORT_MAX_BYTES = env_int("CHATBOT_IMPORT_MAX_BYTES", 512 * 1024 * 1024, minimum=1)
BODY_LIMITS_BY_PATH = {"/api/chat/import": CHATBOT_IMPORT_MAX_BYTES}

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        # Signing in with a provider posts here, then redirects there.
        "form-action": [
            "'self'",
            *accounts_configuration.form_action_origins(
                SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]
            ),
        ],
        "frame-ancestors": ["'none'"],
    }
}

# --- I18N and static --------------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Attachments ------------------------------------------------------------------------

# Uploaded files live in the "attachments" storage, read only through the API (never served
# by whitenoise or nginx): a private folder by default, or an S3-compatible bucket shared by
# every app machine when CHATBOT_S3_BUCKET is set (keys from AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, or boto3's own chain when those are empty).
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
CHATBOT_MAX_IMAGE_BYTES = env_int("CHATBOT_MAX_IMAGE_BYTES", 10 * 1024 * 1024, minimum=1)
CHATBOT_MAX_FILE_BYTES = env_int("CHATBOT_MAX_FILE_BYTES", 20 * 1024 * 1024, minimum=1)
CHATBOT_USER_STORAGE_BYTES = env_int("CHATBOT_USER_STORAGE_BYTES", 1024**3, minimum=1)
CHATBOT_S3_BUCKET = env_str("CHATBOT_S3_BUCKET").strip()
if CHATBOT_S3_BUCKET:
    STORAGES["attachments"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CHATBOT_S3_BUCKET,
            "endpoint_url": env_url("CHATBOT_S3_ENDPOINT_URL", ("http", "https")) or None,
            "region_name": env_str("CHATBOT_S3_REGION").strip() or None,
            "access_key": env_str("AWS_ACCESS_KEY_ID").strip() or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY").strip() or None,
            "default_acl": None,
            "file_overwrite": False,
        },
    }
else:
    STORAGES["attachments"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "attachments"},
    }
# The multipart envelope around the largest file (field name, headers, boundaries).
BODY_LIMITS_BY_PATH["/api/files"] = max(CHATBOT_MAX_FILE_BYTES, CHATBOT_MAX_IMAGE_BYTES) + 64 * 1024
# A /v1 request may carry an image inline (base64 in a data URL) beside its JSON.
BODY_LIMITS_BY_PATH["/v1/chat/completions"] = (
    CHATBOT_MAX_IMAGE_BYTES * 4 // 3 + DATA_UPLOAD_MAX_MEMORY_SIZE
)

# --- REST framework ---------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api_auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["conversations.api.parsers.LimitedJSONParser"],
    # Only signing in for a token is throttled here; sends are limited by conversations.limits.
    "DEFAULT_THROTTLE_RATES": {"token": "10/min"},
    # Without it DRF throttles by the whole X-Forwarded-For header, which clients forge.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "conversations.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env_int("API_TOKEN_TTL_DAYS", 30, minimum=1)),
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_PREFIX": "cb_",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chatbot API",
    "DESCRIPTION": "Conversations with a language model, as JSON or Server-Sent Events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- The chatbot ------------------------------------------------------------------------

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", ("http", "https"))
CHATBOT_MODEL = env_str("CHATBOT_MODEL", "gpt-4o-mini")
CHATBOT_TEMPERATURE = env_float("CHATBOT_TEMPERATURE", 0.7, minimum=0)
CHATBOT_SYSTEM_PROMPT = env_str(
    "CHATBOT_SYSTEM_PROMPT",
    "You are a helpful assistant. Answer clearly and concisely; use Markdown when it helps.",
)
CHATBOT_CONTEXT_TOKENS = env_int("CHATBOT_CONTEXT_TOKENS", 16000, minimum=1)
CHATBOT_MAX_MESSAGE_CHARS = env_int("CHATBOT_MAX_MESSAGE_CHARS", 10000, minimum=1)
CHATBOT_LLM_TIMEOUT = env_float("CHATBOT_LLM_TIMEOUT", 60.0, positive=True)
CHATBOT_LLM_MAX_RETRIES = env_int("CHATBOT_LLM_MAX_RETRIES", 2, minimum=0)
# A reply's whole time with the model, across the SDK's retries and the stream: below common
# proxy timeouts, so a hanging upstream ends in a clear error instead of a cut connection.
CHATBOT_LLM_DEADLINE = env_float("CHATBOT_LLM_DEADLINE", 90.0, positive=True)
# The longest reply (max_tokens sent to the model); also what a send holds against the quota.
CHATBOT_MAX_REPLY_TOKENS = env_int("CHATBOT_MAX_REPLY_TOKENS", 4096, minimum=1)
# The model catalogue from a TOML file, checked here so a bad file stops the start; empty:
# the catalogue of admin rows, or else the one model of the settings above.
CHATBOT_MODELS_FILE = env_str("CHATBOT_MODELS_FILE").strip()
CHATBOT_MODELS = (
    load_models_file(
        CHATBOT_MODELS_FILE,
        default_context_tokens=CHATBOT_CONTEXT_TOKENS,
        max_reply_tokens=CHATBOT_MAX_REPLY_TOKENS,
    )
    if CHATBOT_MODELS_FILE
    else None
)
# Parsed here, once: conversations.limits reads the Rate (or None when off).
CHATBOT_RATE_LIMIT = env_rate("CHATBOT_RATE_LIMIT", "20/min")
CHATBOT_DAILY_TOKEN_QUOTA = env_int("CHATBOT_DAILY_TOKEN_QUOTA", 0, minimum=0)
CHATBOT_CONVERSATION_TOKEN_LIMIT = env_int("CHATBOT_CONVERSATION_TOKEN_LIMIT", 0, minimum=0)
CHATBOT_SESSION_RATE_LIMIT = env_rate("CHATBOT_SESSION_RATE_LIMIT", "off")
CHATBOT_MODERATION = env_choice("CHATBOT_MODERATION", "off", ("off", "flag", "block"))
CHATBOT_MODERATION_MODEL = env_str("CHATBOT_MODERATION_MODEL", "omni-moderation-latest")
# How often a growing reply is written to the database, and when a reply whose writer
# stopped sending heartbeats is declared failed.
CHATBOT_STREAM_SAVE_INTERVAL = env_float("CHATBOT_STREAM_SAVE_INTERVAL", 0.5, positive=True)
CHATBOT_STREAM_HEARTBEAT = env_float("CHATBOT_STREAM_HEARTBEAT", 10.0, positive=True)
CHATBOT_STREAM_STALE_AFTER = env_float("CHATBOT_STREAM_STALE_AFTER", 45.0, positive=True)
CHATBOT_DEMO_DELAY = env_float("CHATBOT_DEMO_DELAY", 0.03, minimum=0)
# How long the final save of a finished reply is retried while the database is down.
CHATBOT_FINAL_SAVE_RETRY = env_float("CHATBOT_FINAL_SAVE_RETRY", 10.0, minimum=0)

# Threads (and so connections) for the database work of background replies
# (conversations.db). SQLite has one writer at a time, and a writer that finds the database
# locked sleeps in SQLite's busy handler (1, 2, 5, 10... ms): several threads writing at
# once cost latency without adding throughput, so one thread queues them without sleeping.
CHATBOT_DB_THREADS = env_int(
    "CHATBOT_DB_THREADS", 1 if _db["ENGINE"].endswith("sqlite3") else 4, minimum=1
)
# Where the tokenizer's vocabulary is cached (conversations.context fills it offline).
TIKTOKEN_CACHE_DIR = env_str(
    "TIKTOKEN_CACHE_DIR", str(Path(tempfile.gettempdir()) / "chatbot-tiktoken")
)

# --- Logging ----------------------------------------------------------------------------

# Also keeps query strings (search terms) out of uvicorn's access and WebSocket log lines.
LOGGING_CONFIG = "chatbot.log_filters.configure_logging"
LOG_LEVEL = env_choice(
    "DJANGO_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
    },
}
