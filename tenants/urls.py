from django.urls import path

from tenants import settings_views as views

app_name = "tenants"
urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("keys", views.create_key, name="create_key"),
    path("keys/<int:key_id>/revoke", views.revoke_key, name="revoke_key"),
    path("members", views.add_member, name="add_member"),
    path("members/<int:membership_id>", views.change_member, name="change_member"),
    path("limits", views.update_limits, name="update_limits"),
]
