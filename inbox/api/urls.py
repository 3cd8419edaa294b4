from django.urls import path

from inbox.api import views

urlpatterns = [
    path("inbox/", views.InboxView.as_view(), name="inbox"),
    path("inbox/agents/", views.AgentsView.as_view(), name="inbox-agents"),
    path("inbox/<int:pk>/", views.ConversationView.as_view(), name="inbox-conversation"),
    path("inbox/<int:pk>/take/", views.TakeView.as_view(), name="inbox-take"),
    path("inbox/<int:pk>/assign/", views.AssignView.as_view(), name="inbox-assign"),
    path("inbox/<int:pk>/reply/", views.ReplyView.as_view(), name="inbox-reply"),
    path("inbox/<int:pk>/notes/", views.NotesView.as_view(), name="inbox-notes"),
    path("inbox/<int:pk>/hand-back/", views.HandBackView.as_view(), name="inbox-hand-back"),
    path("inbox/<int:pk>/resolve/", views.ResolveView.as_view(), name="inbox-resolve"),
]
