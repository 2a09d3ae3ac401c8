"""Live crawl of the arXiv API with the real ``arxiv`` client.

The HTTP side (:class:`ArxivSource`) is kept apart from the pure conversion of results to rows
(:func:`result_to_row`). Retries use exponential back-off on 429/5xx, dropped connections,
empty pages and malformed XML; arXiv's 3-second spacing between requests is always honoured.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import arxiv
import requests

from litmine.config import ARXIV_API_URL, Scope
from litmine.errors import FetchError, LitmineError, MalformedFeed

log = logging.getLogger(__name__)

RETRY_STATUS = {429, 500, 502, 503, 504}
_ID = re.compile(r"arxiv\.org/abs/(?P<id>.+?)(?:v(?P<v>\d+))?$")


def _unreachable(err: Exception) -> bool:
    """No connection could be made at all (DNS failure, refused): the network is down."""
    text = str(err)
    return isinstance(err, requests.ConnectionError) and any(
        s in text for s in ("NameResolutionError", "Failed to establish", "Connection refused")
    )


class _CheckedClient(arxiv.Client):
    """The ``arxiv`` client, failing loudly on malformed XML and remembering the result total."""

    total_results: int = 0

    def _parse_feed(self, url, first_page=True, _try_index=0):  # noqa: ANN001, ANN202
        feed = super()._parse_feed(url, first_page=first_page, _try_index=_try_index)
        if feed.malformed:
            raise MalformedFeed(f"arXiv returned malformed XML for {url}: {feed.error}")
        if first_page:
            self.total_results = feed.header.total_results
        return feed


def result_to_row(result: arxiv.Result) -> tuple | None:
    """Convert one API result to a staging row; None when it lacks an id, title or abstract."""
    m = _ID.search(result.entry_id or "")
    title = " ".join((result.title or "").split())
    abstract = " ".join((result.summary or "").split())
    if not m or not title or not abstract:
        return None
    cats = list(result.categories) or ([result.primary_category] if result.primary_category else [])
    return (
        m.group("id"),
        int(m.group("v") or 1),
        title,
        abstract,
        ", ".join(a.name for a in result.authors),
        cats,
        result.primary_category or (cats[0] if cats else None),
        result.published.replace(tzinfo=None) if result.published else None,
        result.updated.replace(tzinfo=None) if result.updated else None,
        "arxiv-api",
    )


def window_query(categories: tuple[str, ...], start: datetime, end: datetime) -> str:
    """API query for papers in ``categories`` last updated in [start, end)."""
    cats = " OR ".join(f"cat:{c}" for c in categories)
    last = end - timedelta(minutes=1)
    return f"({cats}) AND lastUpdatedDate:[{start:%Y%m%d%H%M} TO {last:%Y%m%d%H%M}]"


class WindowTooLarge(Exception):
    """A window reports more results than one query should page through."""

    def __init__(self, total: int):
        super().__init__(f"window holds {total} results")
        self.total = total


@dataclass
class WindowResult:
    rows: list[tuple]
    total: int
    skipped: int


class ArxivSource:
    """Fetches date windows from the arXiv API. ``base_url`` points it at a test server."""

    def __init__(
        self,
        scope: Scope,
        base_url: str = ARXIV_API_URL,
        delay_seconds: float = 3.0,
        max_retries: int | None = None,
        backoff_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.scope = scope
        self.base_url = base_url
        self.delay_seconds = delay_seconds
        env = os.environ.get
        self.max_retries = (
            int(env("LITMINE_FETCH_RETRIES", 5)) if max_retries is None else max_retries
        )
        self.backoff_seconds = (
            float(env("LITMINE_FETCH_BACKOFF", 10.0))
            if backoff_seconds is None
            else backoff_seconds
        )
        self.sleep = sleep
        self.client = _CheckedClient(
            page_size=scope.page_size, delay_seconds=delay_seconds, num_retries=0
        )
        self.client.query_url_format = base_url

    def fetch_window(self, start: datetime, end: datetime, limit: int = 0) -> WindowResult:
        """Every paper of one window, resuming at the failed page after each retry.

        Raises ``WindowTooLarge`` after the first page when the window reports over ``limit``.
        """
        search = arxiv.Search(
            query=window_query(self.scope.categories, start, end),
            max_results=None,
            sort_by=arxiv.SortCriterion.LastUpdatedDate,
            sort_order=arxiv.SortOrder.Ascending,
        )
        results: list[arxiv.Result] = []

        def pull() -> None:
            for r in self.client.results(search, offset=len(results)):
                if limit and self.client.total_results > limit:
                    raise WindowTooLarge(self.client.total_results)
                results.append(r)

        self._with_retries(pull, f"window {start:%Y-%m-%d %H:%M}")
        rows = [row for row in map(result_to_row, results) if row is not None]
        total = max(self.client.total_results, len(results))
        return WindowResult(rows=rows, total=total, skipped=len(results) - len(rows))

    def _with_retries(self, fn: Callable[[], object], what: str) -> None:
        for attempt in range(self.max_retries + 1):
            try:
                fn()
                return
            except arxiv.HTTPError as exc:
                if exc.status not in RETRY_STATUS:
                    raise LitmineError(
                        f"arXiv API refused {what} with HTTP {exc.status}",
                        hint="check the crawl scope and the API base URL",
                    ) from exc
                err: Exception = exc
            except (
                arxiv.UnexpectedEmptyPageError,
                MalformedFeed,
                requests.RequestException,
            ) as exc:
                err = exc
            if attempt == self.max_retries or (attempt >= 1 and _unreachable(err)):
                raise FetchError(
                    f"arXiv API kept failing for {what} after {attempt + 1} tries: {err}",
                    hint="arXiv may be down or the network unreachable; the cursor was not moved, "
                    "so the next run resumes here. Without network, run from a snapshot file: "
                    "`litmine nightly --snapshot FILE` (Kaggle arxiv-metadata-oai-snapshot format)",
                ) from err
            wait = self.backoff_seconds * 2**attempt
            log.warning("%s failed (%s); retrying in %.1fs", what, err, wait)
            self.sleep(wait)
