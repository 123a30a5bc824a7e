from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("sessions/", views.sessions_list, name="chat-sessions"),
    path("c/<uuid:session_id>/", views.chat, name="chat-session"),
    path("c/<uuid:session_id>/messages", views.older_messages, name="chat-older-messages"),
    path("c/<uuid:session_id>/rename/", views.rename, name="chat-rename"),
    path("c/<uuid:session_id>/delete/", views.delete, name="chat-delete"),
]
