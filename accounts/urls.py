from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.settings_page, name="account-settings"),
    path("tokens/", views.create_token, name="account-token-create"),
    path("tokens/<str:token_key>/revoke/", views.revoke_token, name="account-token-revoke"),
    path("export/", views.export_data, name="account-export"),
    path("delete/", views.delete_account, name="account-delete"),
    path("sessions/<int:session_id>/end/", views.end_session, name="account-session-end"),
]
