from django.urls import path

from inbox.api import views

urlpatterns = [
    path("inbox/", views.InboxView.as_view(), name="inbox"),
    path("inbox/<int:pk>/take/", views.TakeView.as_view(), name="inbox-take"),
    path("inbox/<int:pk>/assign/", views.AssignView.as_view(), name="inbox-assign"),
    path("inbox/<int:pk>/reply/", views.ReplyView.as_view(), name="inbox-reply"),
    path("inbox/<int:pk>/hand-back/", views.HandBackView.as_view(), name="inbox-hand-back"),
]
