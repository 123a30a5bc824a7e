from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("c/<uuid:session_id>/", views.chat, name="chat-session"),
]
