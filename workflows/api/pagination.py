"""Keyset (cursor) pages for lists that grow without bound: `GET /api/runs/`.

A page is the next `page_size` rows after the cursor along an index ending in
the id, so page 20,000 costs what page 1 does, and no page counts the table
(docs/api.md, "Pagination"). The links carry an opaque `cursor`; `?page=`
from the page-number days is refused with a 400 naming it, rather than
quietly answered with the first page again."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

MAX_PAGE_SIZE = 500


class RunCursorPagination(CursorPagination):
    """Newest first; `?page_size=` from 1 to 500 (50 by default); the answer
    is `{"next", "previous", "results"}`, no `count`."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param, "").strip()
        if not raw:
            return int(settings.REST_FRAMEWORK["PAGE_SIZE"])
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise ValidationError(
                {"page_size": [f"must be a whole number from 1 to {MAX_PAGE_SIZE}"]}
            )
        return int(raw)

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        page = request.query_params.get("page", "").strip()
        if page and page != "1":
            raise ValidationError(
                {
                    "page": [
                        "runs are paged by cursor: follow the answer's `next` "
                        "link (or pass its `cursor`); `page` is gone"
                    ]
                }
            )
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as error:  # DRF's answer to a cursor it cannot decode
            raise ValidationError({"cursor": [str(error.detail)]}) from error
