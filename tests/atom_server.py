"""A loopback HTTP server that serves Atom pages the way the arXiv API does, with scripted faults.

Tests give it entries; it answers ``search_query``/``start``/``max_results`` by filtering entries on
the ``lastUpdatedDate`` range in the query and slicing. ``faults`` is a list of actions consumed one
per request: an int status (429, 503, 500), "drop" (close mid-page), "malformed", "empty".
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape

FEED_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title>arXiv Query</title>
  <id>http://arxiv.org/api/test</id>
  <updated>2026-01-01T00:00:00Z</updated>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>{start}</opensearch:startIndex>
  <opensearch:itemsPerPage>{per}</opensearch:itemsPerPage>
"""


@dataclass
class Entry:
    arxiv_id: str
    title: str
    abstract: str
    updated: datetime
    published: datetime | None = None
    version: int = 1
    categories: tuple[str, ...] = ("cs.CL",)
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing")
    omit: tuple[str, ...] = ()  # elements to leave out, e.g. ("updated",)

    def xml(self) -> str:
        pub = (self.published or self.updated).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [f"<id>http://arxiv.org/abs/{self.arxiv_id}v{self.version}</id>"]
        if "updated" not in self.omit:
            parts.append(f"<updated>{self.updated:%Y-%m-%dT%H:%M:%SZ}</updated>")
        if "published" not in self.omit:
            parts.append(f"<published>{pub}</published>")
        if "title" not in self.omit:
            parts.append(f"<title>{escape(self.title)}</title>")
        if "summary" not in self.omit:
            parts.append(f"<summary>  {escape(self.abstract)}\n</summary>")
        parts += [f"<author><name>{escape(a)}</name></author>" for a in self.authors]
        parts.append(
            f'<arxiv:primary_category term="{self.categories[0]}" scheme="http://arxiv.org/schemas/atom"/>'
        )
        parts += [
            f'<category term="{c}" scheme="http://arxiv.org/schemas/atom"/>'
            for c in self.categories
        ]
        return "<entry>" + "".join(parts) + "</entry>\n"


_RANGE = re.compile(r"lastUpdatedDate:\[(\d{12}) TO (\d{12})\]")


@dataclass
class AtomServer:
    entries: list[Entry] = field(default_factory=list)
    faults: list = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    def page(self, query: dict) -> tuple[int, bytes]:
        q = query.get("search_query", [""])[0]
        start = int(query.get("start", ["0"])[0])
        per = int(query.get("max_results", ["10"])[0])
        m = _RANGE.search(q)
        hits = self.entries
        if m:
            lo, hi = (datetime.strptime(x, "%Y%m%d%H%M") for x in m.groups())
            hits = [e for e in hits if lo <= e.updated.replace(second=0) <= hi]
        hits = sorted(hits, key=lambda e: (e.updated, e.arxiv_id))
        body = FEED_HEAD.format(total=len(hits), start=start, per=per)
        body += "".join(e.xml() for e in hits[start : start + per]) + "</feed>\n"
        return 200, body.encode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/query?{{}}"

    def __enter__(self) -> AtomServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: ANN002
                pass

            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                fault = server.faults.pop(0) if server.faults else None
                if isinstance(fault, int):
                    self.send_response(fault)
                    self.end_headers()
                    return
                status, body = server.page(parse_qs(urlparse(self.path).query))
                if fault == "malformed":
                    body = b"\x00\x01 not xml at all <<<"
                elif fault == "empty":
                    body = FEED_HEAD.format(total=0, start=0, per=0).encode() + b"</feed>"
                self.send_response(status)
                self.send_header("Content-Type", "application/atom+xml")
                if fault == "drop":
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.close()
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self._httpd.shutdown()
        self._httpd.server_close()
