from django.urls import path

from approvals import views

app_name = "approvals"
urlpatterns = [
    path("<str:token>", views.decide_page, name="decide"),
]
