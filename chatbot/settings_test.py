"""Settings for the test suite: production settings with test-friendly environment defaults.

Every value can still be overridden from the environment (CI sets DATABASE_URL and
REDIS_URL to run the same suite on PostgreSQL and Redis).
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("DJANGO_SECURE_COOKIES", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("CHATBOT_RATE_LIMIT", "1000/min")
os.environ.setdefault("CHATBOT_DEMO_DELAY", "0")
os.environ.setdefault("CHATBOT_LLM_MAX_RETRIES", "1")
os.environ.setdefault("CHATBOT_LLM_TIMEOUT", "5")
# The suite's own upstream decides whether a test talks to a model; start from demo mode.
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("OPENAI_BASE_URL", None)

from chatbot.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Serve static files from the finders (no collectstatic needed for the live server).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
