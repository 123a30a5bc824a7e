"""The app's URLs plus one view that fails, to see what a server error shows."""

from django.urls import include, path


def fail(request):
    raise RuntimeError("internal detail: sk-test-secret-key at /srv/chatbot/settings.py")


urlpatterns = [path("broken/", fail), path("", include("chatbot.urls"))]
