"""The app's URLs plus one API view that fails, to see what a server error under /api/ is."""

from django.urls import include, path

from chatbot.urls import handler400, handler403, handler404, handler500  # noqa: F401


def fail(request):
    raise RuntimeError("internal detail")


urlpatterns = [path("api/broken", fail), path("", include("chatbot.urls"))]
