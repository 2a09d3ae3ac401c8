"""Screenshot a dashboard page of a given database in headless Chromium (e.g. docs/dashboard.png).

Usage: .venv/bin/python bench/screenshot.py DB [--out docs/dashboard.png] [--page evolution]
Needs Debian's chromium (apt-get install -y chromium). The dashboard reads DB's published copy
when there is one, as it does in production.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import dashboard_fixtures as fx  # noqa: E402

# How many plotly charts each page draws when it is fully rendered.
PAGE_CHARTS = {"evolution": 5, "indicators": 5, "map": 1, "methods": 1}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("db", type=Path, help="the working database (LITMINE_DB)")
    p.add_argument("--out", type=Path, default=fx.REPO / "docs" / "dashboard.png")
    p.add_argument("--page", default="evolution", choices=sorted(PAGE_CHARTS))
    p.add_argument("--size", default="1400,1400", help="window width,height in pixels")
    args = p.parse_args(argv)
    if fx.chromium_binary() is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 1
    width, height = (int(v) for v in args.size.split(","))
    log = fx.REPO / "artifacts" / "screenshot-streamlit.log"
    log.parent.mkdir(exist_ok=True)
    start = time.monotonic()
    with fx.serve_dashboard(args.db.resolve(), log) as url:
        page = "" if args.page == "evolution" else f"/{args.page}"
        fx.capture(url + page, args.out, fx.plots_ready(PAGE_CHARTS[args.page]), (width, height))
    print(f"wrote {args.out} in {time.monotonic() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
