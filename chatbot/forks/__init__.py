"""Copies and overrides of framework internals, kept here so that upgrades find them.

Each exists for speed on the chat send's hot path (figures: docs/performance.md, "Why each
fork exists"); each has a test in tests/infra/test_forks.py that fails when the upstream
source it copied or relies on changes. After an upgrade, re-read the upstream function,
carry its change over, and record the new hash.

- ``middleware``: ``InlineHooks`` and nine subclasses of Django's and django-csp's
  middleware. Replaces ``django.utils.deprecation.MiddlewareMixin.__acall__`` (Django
  5.2.19) and relies on the hooks of SecurityMiddleware, SessionMiddleware,
  CommonMiddleware, CsrfViewMiddleware, AuthenticationMiddleware, MessageMiddleware,
  XFrameOptionsMiddleware, LocaleMiddleware (Django 5.2.19) and CSPMiddleware
  (django-csp 4.0) doing no I/O.
- ``handler``: ``InlineMiddlewareLoading.load_middleware`` wraps
  ``django.core.handlers.base.BaseHandler.load_middleware`` (Django 5.2.19) under
  ``override_settings``, so settings keep Django's paths for its system checks.
- ``request_thread``: ``NoRequestThreadASGIHandler.handle`` copies
  ``django.core.handlers.asgi.ASGIHandler.handle`` and ``close_response`` copies
  ``django.http.response.HttpResponseBase.close`` (Django 5.2.19); they rely on the
  receivers Django connects to ``request_started`` and ``request_finished``
  (``Signal._live_receivers``) and on asgiref 3.13's per-context executors
  (``SyncToAsync.__call__``, ``ThreadSensitiveContext``).
- ``adrf``: ``SyncWorkDispatch.async_dispatch`` copies ``adrf.views.APIView.async_dispatch``
  (adrf 0.1.14); ``PerRouteAsyncViewSetMixin.as_view`` relies on
  ``adrf.viewsets.ViewSetMixin.as_view`` and ``adrf.views.APIView.dispatch``.
- ``layers``: ``FastGroupSendLayer`` throttles
  ``channels.layers.InMemoryChannelLayer._clean_expired`` and copies its ``group_send``
  (Channels 4.3.2).
- ``whitenoise``: ``AsyncWhiteNoiseMiddleware.__call__`` replaces
  ``whitenoise.middleware.WhiteNoiseMiddleware.__call__`` (WhiteNoise 6.12.0).
- ``channels``: ``NoConnectionCleanupDispatch.dispatch`` replaces
  ``channels.consumer.AsyncConsumer.dispatch`` (Channels 4.3.2).
- ``knox``: ``PresentedTokenAuthentication.authenticate_credentials`` replaces
  ``knox.auth.TokenAuthentication.authenticate_credentials`` (django-rest-knox 5.1.0).
"""
