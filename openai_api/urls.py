from django.urls import path

from openai_api import views

urlpatterns = [
    path("models", views.ModelsView.as_view(), name="openai-models"),
    path("chat/completions", views.ChatCompletionsView.as_view(), name="openai-chat-completions"),
]
