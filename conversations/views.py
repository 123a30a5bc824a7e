"""Server-rendered chat pages."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def chat(request: HttpRequest, session_id=None) -> HttpResponse:
    return render(request, "conversations/chat.html", {"session_id": session_id})
