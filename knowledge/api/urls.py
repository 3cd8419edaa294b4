from django.urls import path

from knowledge.api import curated, documents

urlpatterns = [
    path("knowledge/documents/", documents.DocumentListView.as_view(), name="knowledge-documents"),
    path("knowledge/documents/<int:pk>/", documents.DocumentDetailView.as_view(), name="knowledge-document"),
    path(
        "knowledge/documents/<int:pk>/reingest/",
        documents.DocumentReingestView.as_view(),
        name="knowledge-document-reingest",
    ),
    path("knowledge/search/", documents.KnowledgeSearchView.as_view(), name="knowledge-search"),
    path("knowledge/curated/", curated.CuratedAnswerListView.as_view(), name="curated-answers"),
    path("knowledge/curated/<int:pk>/", curated.CuratedAnswerDetailView.as_view(), name="curated-answer"),
    path(
        "knowledge/curated/suggestions/", curated.CuratedSuggestionsView.as_view(), name="curated-suggestions"
    ),
]
