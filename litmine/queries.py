"""The dashboard's read-only query layer: every aggregation runs in DuckDB and returns a small frame.

Functions take a connection (opened with :func:`open_readonly`) and :class:`Filters`; label data
always comes from the ``paper_labels`` view, so gold labels override the current model's.
The one write the dashboard makes, a review correction, goes to an append-only JSONL file that
``litmine labels import`` reads (:func:`append_correction`), never to the database.
"""

from __future__ import annotations

import fcntl
import json
import logging
import shlex
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from litmine import store
from litmine.config import published_db_path
from litmine.errors import LitmineError, UnknownLabel
from litmine.taxonomy import AXES, MULTI_AXES, TAXONOMY_VERSION, axis, check_label, parse_record

log = logging.getLogger(__name__)

SETUP_HINT = "load papers with `litmine nightly --snapshot FILE` (or `litmine nightly` to crawl)"
# Values of the filterable pseudo-axes next to the taxonomy's own axes.
EXTRA_FILTERS = {
    "post_training": ("yes", "no", "unclassified"),
    "borderline": ("yes", "no"),
    "source": ("gold", "model"),
}
CORRECTION_PREFIX = "dashboard:"
CONFIDENT = "(is_gold OR greatest(post_training_prob, 1 - post_training_prob) >= ?)"


def source_path(db_path: Path | str) -> Path | None:
    """The file the dashboard reads: the published copy, else the working database, else None."""
    db_path = Path(db_path)
    for path in (published_db_path(db_path), db_path):
        if path.is_file():
            return path
    return None


def open_readonly(db_path: Path | str) -> duckdb.DuckDBPyConnection:
    """Open the published copy of ``db_path`` (or the database itself) read-only."""
    path = source_path(db_path)
    if path is None:
        raise LitmineError(f"no database at {db_path}", hint=SETUP_HINT)
    return store.open_db(path, read_only=True)


@dataclass(frozen=True)
class Filters:
    """What a page shows: a month range, categories, a confidence floor and label filters.

    ``min_confidence`` applies to the post-training decision (gold rows always pass), as in
    ``litmine export``. ``labels`` holds ``(axis, accepted labels)`` pairs, ANDed across axes;
    a multi-label axis matches when the paper holds any accepted label.
    """

    start: date | None = None
    end: date | None = None
    categories: tuple[str, ...] = ()
    min_confidence: float = 0.0
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def scope_sql(self) -> tuple[str, list]:
        """Conditions on month and category only: the denominator of every share."""
        conds, params = ["TRUE"], []
        if self.start:
            conds.append("submitted_month >= ?")
            params.append(self.start)
        if self.end:
            conds.append("submitted_month <= ?")
            params.append(self.end)
        if self.categories:
            conds.append("list_has_any(categories, ?::VARCHAR[])")
            params.append(list(self.categories))
        return " AND ".join(conds), params

    def sql(self) -> tuple[str, list]:
        """Scope, confidence and label conditions over ``paper_labels`` columns."""
        where, params = self.scope_sql()
        conds = [where]
        if self.min_confidence > 0:
            conds.append(CONFIDENT)
            params.append(float(self.min_confidence))
        for name, values in self.labels:
            cond, extra = _label_condition(name, tuple(values))
            conds.append(cond)
            params += extra
        return " AND ".join(conds), params


def _label_condition(name: str, values: tuple[str, ...]) -> tuple[str, list]:
    if name in EXTRA_FILTERS:
        bad = [v for v in values if v not in EXTRA_FILTERS[name]]
        if bad:
            raise UnknownLabel(f"unknown {name} filter {bad}", hint=f"use {EXTRA_FILTERS[name]}")
        sql = {
            ("post_training", "yes"): "post_training",
            ("post_training", "no"): "NOT post_training",
            ("post_training", "unclassified"): "post_training IS NULL",
            ("borderline", "yes"): "coalesce(borderline, false)",
            ("borderline", "no"): "NOT coalesce(borderline, false)",
            ("source", "gold"): "is_gold",
            ("source", "model"): "(NOT is_gold AND label_source IS NOT NULL)",
        }
        return "(" + " OR ".join([sql[(name, v)] for v in values] or ["FALSE"]) + ")", []
    axis(name)
    labels = [check_label(name, v) for v in values]
    if name in MULTI_AXES:
        return f"list_has_any({name}, ?::VARCHAR[])", [labels]
    return f"list_contains(?::VARCHAR[], {name})", [labels]


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Corpus size, label coverage, the current model and when the copy was published."""
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM papers),
               (SELECT count(*) FROM paper_labels WHERE post_training IS NOT NULL),
               (SELECT count(*) FROM gold_current),
               (SELECT count(*) FROM embeddings),
               (SELECT count(*) FROM map_coords),
               (SELECT count(*) FROM methods),
               (SELECT min(submitted_month) FROM papers),
               (SELECT max(submitted_month) FROM papers),
               (SELECT value FROM meta WHERE key = 'current_model'),
               (SELECT value FROM meta WHERE key = 'published_at')
        """
    ).fetchall()[0]
    keys = ("papers", "classified", "gold", "embedded", "mapped", "methods")
    out = dict(zip(keys, (int(v) for v in row[:6]), strict=True))
    out.update(first_month=row[6], last_month=row[7], current_model=row[8], published_at=row[9])
    return out


def month_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Papers per submission month over the whole corpus (for the date-range control)."""
    return _df(
        con,
        "SELECT submitted_month AS month, count(*) AS papers FROM papers "
        "WHERE submitted_month IS NOT NULL GROUP BY 1 ORDER BY 1",
    )


def top_categories(con: duckdb.DuckDBPyConnection, limit: int = 40) -> pd.DataFrame:
    """The most frequent arXiv categories with their paper counts."""
    return _df(
        con,
        "SELECT category, count(*) AS papers FROM "
        "(SELECT unnest(categories) AS category FROM papers) "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
        [limit],
    )


def monthly_totals(
    con: duckdb.DuckDBPyConnection, f: Filters, by_month: bool = True
) -> pd.DataFrame:
    """Papers crawled, classified, post-training (gold among them) and the post-training share.

    One row per month, or a single row for the whole range with ``by_month=False``.
    """
    scope, params = f.scope_sql()
    label_where, label_params = Filters(min_confidence=f.min_confidence, labels=f.labels).sql()
    pt = f"count(*) FILTER (WHERE post_training AND {label_where})"
    month, group = ("submitted_month AS month, ", "GROUP BY 1 ORDER BY 1") if by_month else ("", "")
    return _df(
        con,
        f"""
        SELECT {month}count(*) AS papers,
               count(*) FILTER (WHERE post_training IS NOT NULL) AS classified,
               {pt} AS post_training,
               count(*) FILTER (WHERE post_training AND is_gold AND {label_where}) AS gold,
               {pt} / nullif(count(*), 0) AS share
        FROM paper_labels WHERE {scope} AND submitted_month IS NOT NULL {group}
        """,
        [*label_params, *label_params, *label_params, *params],
    )


def _label_expr(name: str) -> str:
    """One label per row: multi-label axes are unnested; an empty list counts as '(none)'."""
    if name in MULTI_AXES:
        return f"unnest(CASE WHEN len({name}) > 0 THEN {name} ELSE ['(none)'] END)"
    return f"coalesce({name}, '(none)')"


def monthly_by_axis(con: duckdb.DuckDBPyConnection, name: str, f: Filters) -> pd.DataFrame:
    """Post-training papers per month and label of one axis, with each label's monthly share.

    For a multi-label axis a paper counts once under each of its labels, so ``share`` is the
    label's share of that month's label assignments.
    """
    if name not in AXES or name == "post_training":
        raise UnknownLabel(f"cannot break post-training papers down by {name!r}")
    where, params = f.sql()
    return _df(
        con,
        f"""
        WITH t AS (
            SELECT submitted_month AS month, {_label_expr(name)} AS label
            FROM paper_labels WHERE post_training AND submitted_month IS NOT NULL AND {where}
        ), c AS (SELECT month, label, count(*) AS papers FROM t GROUP BY 1, 2),
        grid AS (SELECT * FROM (SELECT DISTINCT month FROM t), (SELECT DISTINCT label FROM t))
        SELECT month, label, coalesce(papers, 0) AS papers,
               coalesce(papers, 0) / sum(coalesce(papers, 0)) OVER (PARTITION BY month) AS share
        FROM grid LEFT JOIN c USING (month, label) ORDER BY 1, 2
        """,
        params,
    )


PAPER_COLUMNS = (
    "arxiv_id, submitted_month AS month, title, post_training, post_training_prob, provenance, "
    "provenance_prob, dominant_role, dominant_role_prob, roles, families, interface, "
    "contribution, contribution_prob, borderline, label_source"
)


def papers(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    month: date | None = None,
    limit: int = 200,
    post_training_only: bool = True,
) -> pd.DataFrame:
    """The papers behind a number: filtered (and optionally one month), newest first."""
    where, params = f.sql()
    if post_training_only:
        where += " AND post_training"
    if month is not None:
        where += " AND submitted_month = ?"
        params.append(month)
    return _df(
        con,
        f"SELECT {PAPER_COLUMNS} FROM paper_labels WHERE {where} "
        "ORDER BY submitted_month DESC, arxiv_id DESC LIMIT ?",
        [*params, limit],
    )


@dataclass(frozen=True)
class Indicator:
    """A framework indicator: the share of ``base`` papers that are ``a`` rather than ``b``."""

    key: str
    title: str
    caption: str
    a_label: str
    a_sql: str
    b_label: str
    b_sql: str


def _fam(name: str) -> str:
    return f"list_contains(families, '{name}')"


INDICATORS = {
    i.key: i
    for i in (
        Indicator(
            "online_preference",
            "Online vs offline preference optimization",
            "Share of preference-optimization papers that learn from fresh policy samples (online "
            "or iterative DPO, self-rewarding) rather than a fixed preference set; the survey "
            "places online variants closer to learner-generated states.",
            "online",
            _fam("online_preference"),
            "offline",
            _fam("offline_preference"),
        ),
        Indicator(
            "onpolicy_distillation",
            "On-policy vs off-policy distillation",
            "Share of distillation papers in which the teacher scores the student's own rollouts "
            "(GKD, MiniLLM) rather than the student imitating fixed teacher traces or logits.",
            "on-policy",
            _fam("onpolicy_distillation"),
            "off-policy",
            _fam("offpolicy_distillation"),
        ),
        Indicator(
            "rl_expansion",
            "RL aimed at expansion rather than reshaping",
            "Among RL-from-rewards papers whose dominant role is expansion or reshaping, the share "
            "that makes new behaviour reachable (guidance, hints, larger pass@k) instead of "
            "sharpening what the model already produces.",
            "expansion",
            f"{_fam('rl_rewards')} AND dominant_role = 'expansion'",
            "reshaping",
            f"{_fam('rl_rewards')} AND dominant_role = 'reshaping'",
        ),
        Indicator(
            "hybrid_pipeline",
            "Hybrid pipelines",
            "Share of post-training papers presenting coordinated multi-stage recipes (SFT->RL->"
            "distillation, interleaved SFT-RL, technical reports): the survey expects progress to "
            "depend increasingly on such stage composition.",
            "hybrid",
            _fam("hybrid_pipeline"),
            "other",
            f"NOT {_fam('hybrid_pipeline')}",
        ),
        Indicator(
            "consolidation",
            "Consolidation",
            "Share of post-training papers with a consolidation role, the survey's systems-level "
            "role: distillation into cheaper students, keeping gains across stages, merging, "
            "internalizing test-time search.",
            "consolidation",
            "list_contains(roles, 'consolidation')",
            "other",
            "NOT list_contains(roles, 'consolidation')",
        ),
    )
}


def _indicator_rows(ind: Indicator, where: str) -> str:
    """Post-training papers with a month, each marked on side ``a`` and/or ``b`` of ``ind``."""
    return f"""
            SELECT submitted_month AS month,
                   coalesce({ind.a_sql}, false) AS a, coalesce({ind.b_sql}, false) AS b
            FROM paper_labels WHERE post_training AND submitted_month IS NOT NULL AND {where}
        """


def indicator_monthly(con: duckdb.DuckDBPyConnection, key: str, f: Filters) -> pd.DataFrame:
    """Per month: papers on each side of an indicator, the share of side a and its 95% interval."""
    ind = INDICATORS[key]
    where, params = f.sql()
    return _df(
        con,
        f"""
        WITH t AS ({_indicator_rows(ind, where)}), m AS (
            SELECT month, count(*) FILTER (WHERE a) AS n_a, count(*) FILTER (WHERE b) AS n_b,
                   count(*) FILTER (WHERE a OR b) AS n
            FROM t GROUP BY month
        ), s AS (SELECT *, CASE WHEN n > 0 THEN n_a / n END AS share, 1.96 AS z FROM m)
        SELECT month, n_a, n_b, n, share,
            greatest(0, (share + z * z / (2 * n)
                - z * sqrt(share * (1 - share) / n + z * z / (4 * n * n))) / (1 + z * z / n)) AS low,
            least(1, (share + z * z / (2 * n)
                + z * sqrt(share * (1 - share) / n + z * z / (4 * n * n))) / (1 + z * z / n)) AS high
        FROM s ORDER BY month
        """,
        params,
    )


def indicator_periods(
    con: duckdb.DuckDBPyConnection, key: str, f: Filters, months: int = 6
) -> pd.DataFrame:
    """The indicator's share over the last ``months`` months and the ``months`` before them."""
    ind = INDICATORS[key]
    where, params = f.sql()
    return _df(
        con,
        f"""
        WITH t AS ({_indicator_rows(ind, where)}), last AS (SELECT max(month) AS m FROM t),
        p AS (
            SELECT CASE WHEN month > m - to_months(?) THEN 'recent'
                        WHEN month > m - to_months(2 * ?) THEN 'previous' END AS period, a, b
            FROM t, last
        )
        SELECT period, count(*) FILTER (WHERE a) AS n_a, count(*) FILTER (WHERE a OR b) AS n,
               count(*) FILTER (WHERE a) / nullif(count(*) FILTER (WHERE a OR b), 0) AS share
        FROM p WHERE period IS NOT NULL GROUP BY period ORDER BY period DESC
        """,
        [*params, months, months],
    )


def map_points(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    color_axis: str = "dominant_role",
    color_label: str | None = None,
    limit: int = 20000,
) -> pd.DataFrame:
    """Map coordinates with a colour class per paper; a fixed hash sample when over ``limit``."""
    where, params = f.sql()
    if color_axis == "post_training":
        color = "CASE WHEN post_training THEN 'post-training' ELSE 'other' END"
    elif color_axis in MULTI_AXES and color_label:
        check_label(color_axis, color_label)
        color = f"CASE WHEN list_contains({color_axis}, ?) THEN ? ELSE 'without it' END"
        params = [color_label, color_label, *params]
    elif color_axis in MULTI_AXES:
        color = (
            f"CASE len({color_axis}) WHEN 0 THEN '(none)' WHEN 1 THEN {color_axis}[1] "
            "ELSE 'several' END"
        )
    else:
        axis(color_axis)
        color = f"coalesce({color_axis}, '(none)')"
    return _df(
        con,
        f"""
        SELECT m.arxiv_id, m.x, m.y, l.title, l.submitted_month AS month,
            CASE WHEN l.post_training IS NULL THEN 'unclassified'
                 WHEN NOT l.post_training THEN 'not post-training' ELSE {color} END AS color,
            l.provenance, l.dominant_role, array_to_string(l.families, ', ') AS families,
            l.label_source
        FROM map_coords m JOIN paper_labels l USING (arxiv_id)
        WHERE {where}
        ORDER BY hash(m.arxiv_id) LIMIT ?
        """,
        [*params, limit],
    )


def search_text(
    con: duckdb.DuckDBPyConnection, text: str, f: Filters, limit: int = 100
) -> pd.DataFrame:
    """Papers whose title or abstract holds every term ("quoted phrases" kept); title hits first."""
    try:
        terms = [t.lower() for t in shlex.split(text) if t.strip()]
    except ValueError:
        terms = [t.lower() for t in text.split() if t.strip()]
    if not terms:
        return papers(con, f, limit=0)
    where, params = f.sql()
    hits = " AND ".join(["contains(lower(title || ' ' || abstract), ?)"] * len(terms))
    title = " + ".join(["contains(lower(title), ?)::INT"] * len(terms))
    return _df(
        con,
        f"SELECT {PAPER_COLUMNS}, {title} AS title_hits FROM paper_labels "
        f"WHERE {where} AND {hits} ORDER BY title_hits DESC, submitted_month DESC, arxiv_id "
        "LIMIT ?",
        [*terms, *params, *terms, limit],
    )


def embedding_model(con: duckdb.DuckDBPyConnection) -> str:
    """The model that semantic-search queries must be embedded with."""
    return store.embedding_model(con)


def search_semantic(
    con: duckdb.DuckDBPyConnection,
    vector: list[float],
    f: Filters,
    model: str | None = None,
    limit: int = 50,
    exclude: str | None = None,
) -> pd.DataFrame:
    """Nearest papers to a query vector by cosine similarity of their ``model`` embeddings
    (default: the database's embedding model)."""
    model = model or store.embedding_model(con)
    where, params = f.sql()
    # Rank the vectors first and label only the top ``limit``: the label view is joined for
    # those rows alone (filters, when set, restrict the candidates through a semi-join).
    allowed = (
        ""
        if where == "TRUE"
        else f"AND e.arxiv_id IN (SELECT arxiv_id FROM paper_labels WHERE {where})"
    )
    return _df(
        con,
        f"""
        WITH hits AS (
            SELECT e.arxiv_id,
                   array_cosine_similarity(e.vector, ?::FLOAT[{store.EMBED_DIM}]) AS similarity
            FROM embeddings e
            WHERE e.model = ? AND e.arxiv_id IS DISTINCT FROM ? {allowed}
            ORDER BY similarity DESC, e.arxiv_id LIMIT ?
        )
        SELECT {PAPER_COLUMNS}, h.similarity
        FROM hits h JOIN paper_labels USING (arxiv_id)
        ORDER BY h.similarity DESC, arxiv_id
        """,
        [list(map(float, vector)), model, exclude, *params, limit],
    )


def nearest_papers(
    con: duckdb.DuckDBPyConnection, arxiv_id: str, model: str | None = None, k: int = 8
) -> pd.DataFrame:
    """The ``k`` papers closest to ``arxiv_id`` in embedding space (empty without a vector)."""
    model = model or store.embedding_model(con)
    rows = con.execute(
        "SELECT vector FROM embeddings WHERE arxiv_id = ? AND model = ?", [arxiv_id, model]
    ).fetchall()
    if not rows:
        return papers(con, Filters(), limit=0)
    return search_semantic(con, rows[0][0], Filters(), model, k, exclude=arxiv_id)


def paper(con: duckdb.DuckDBPyConnection, arxiv_id: str) -> pd.DataFrame:
    """One paper's metadata and current labels (zero rows if unknown)."""
    return _df(
        con,
        "SELECT arxiv_id, title, abstract, authors, categories, submitted_month AS month, "
        "is_gold, label_source, model_id, labelled_at FROM paper_labels WHERE arxiv_id = ?",
        [arxiv_id],
    )


def _evidence_sql(name: str, label: str) -> str:
    """The model's evidence sentence: JSON ``{axis: {label: sentence}}`` or ``{axis: sentence}``."""
    path = f"'$.{name}'"
    return (
        f"coalesce(json_extract_string(evidence_by_axis, '$.{name}.' || {label}), "
        f"CASE WHEN json_type(evidence_by_axis, {path}) = 'VARCHAR' "
        f"THEN json_extract_string(evidence_by_axis, {path}) END)"
    )


def paper_label_rows(con: duckdb.DuckDBPyConnection, arxiv_id: str) -> pd.DataFrame:
    """Every label of one paper: axis, label, probability, source (gold or model id), evidence."""
    parts = [
        "SELECT 'post_training' AS axis, CASE WHEN post_training THEN 'yes' ELSE 'no' END AS label,"
        " CASE WHEN is_gold THEN 1.0 WHEN post_training THEN post_training_prob"
        " ELSE 1 - post_training_prob END AS probability, label_source AS source,"
        f" CASE WHEN is_gold THEN evidence ELSE {_evidence_sql('post_training', 'label')} END"
        " AS evidence, 0 AS ord FROM base WHERE post_training IS NOT NULL"
    ]
    for i, name in enumerate([*AXES][1:], 1):
        if name in MULTI_AXES:
            prob = f"CAST(json_extract_string({name}_probs, '$.' || label) AS DOUBLE)"
            src = f"(SELECT *, unnest({name}) AS label FROM base)"
        else:
            prob, src = f"{name}_prob", f"(SELECT *, {name} AS label FROM base)"
        parts.append(
            f"SELECT '{name}', label, CASE WHEN is_gold THEN 1.0 ELSE {prob} END, label_source, "
            f"CASE WHEN NOT is_gold THEN {_evidence_sql(name, 'label')} END, {i} "
            f"FROM {src} WHERE post_training AND label IS NOT NULL"
        )
    border_evidence = _evidence_sql("borderline", "'borderline'")
    parts.append(
        "SELECT 'borderline', 'yes', NULL, label_source, "
        f"CASE WHEN NOT is_gold THEN {border_evidence} END, 99 FROM base WHERE borderline"
    )
    sql = (
        "WITH base AS (SELECT * FROM paper_labels WHERE arxiv_id = ?) "
        "SELECT axis, label, probability, source, evidence FROM ("
        + " UNION ALL ".join(parts)
        + ") ORDER BY ord, probability DESC NULLS LAST, label"
    )
    return _df(con, sql, [arxiv_id])


def trending_methods(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    window: int = 3,
    min_recent: int = 2,
    limit: int = 20,
    post_training_only: bool = True,
) -> pd.DataFrame:
    """Method names whose share of papers rose: last ``window`` months against the window before.

    ``growth`` compares the rate per paper crawled in each window (+1 smoothed), so a corpus
    that simply grows, or a last month still being crawled, does not make every name trend.
    """
    where, params = f.sql()
    pt = "post_training" if post_training_only else "TRUE"
    return _df(
        con,
        f"""
        WITH scope AS (
            SELECT arxiv_id, submitted_month AS month, post_training FROM paper_labels
            WHERE submitted_month IS NOT NULL AND {where}
        ), last AS (SELECT max(month) AS m FROM scope),
        w AS (
            SELECT arxiv_id, post_training,
                CASE WHEN month > m - to_months(?) THEN 'recent'
                     WHEN month > m - to_months(2 * ?) THEN 'previous' END AS period, month
            FROM scope, last
        ), corpus AS (
            SELECT count(*) FILTER (WHERE period = 'recent') AS n_recent,
                   count(*) FILTER (WHERE period = 'previous') AS n_previous
            FROM w WHERE {pt}
        ), mw AS (
            SELECT DISTINCT m.name, m.expansion, w.arxiv_id, w.period, w.month
            FROM methods m JOIN w USING (arxiv_id) WHERE {pt}
        ), agg AS (
            SELECT name, mode(expansion) AS expansion, count(DISTINCT arxiv_id) AS papers,
                count(DISTINCT arxiv_id) FILTER (WHERE period = 'recent') AS recent,
                count(DISTINCT arxiv_id) FILTER (WHERE period = 'previous') AS previous,
                min(month) AS first_month
            FROM mw GROUP BY name
        )
        SELECT name, expansion, papers, recent, previous, first_month,
            ((recent + 1.0) / (n_recent + 1)) / ((previous + 1.0) / (n_previous + 1)) AS growth
        FROM agg, corpus WHERE recent >= ?
        ORDER BY growth DESC, recent DESC, name LIMIT ?
        """,
        [*params, window, window, min_recent, limit],
    )


def method_monthly(
    con: duckdb.DuckDBPyConnection, names: list[str], f: Filters, post_training_only: bool = True
) -> pd.DataFrame:
    """Papers per month defining each of ``names`` (zero-filled over the months in range)."""
    where, params = f.sql()
    pt = " AND post_training" if post_training_only else ""
    return _df(
        con,
        f"""
        WITH l AS (
            SELECT arxiv_id, submitted_month AS month FROM paper_labels
            WHERE submitted_month IS NOT NULL AND {where}{pt}
        ), c AS (
            SELECT m.name, l.month, count(DISTINCT m.arxiv_id) AS papers
            FROM methods m JOIN l USING (arxiv_id) WHERE list_contains(?, m.name) GROUP BY 1, 2
        ), grid AS (
            SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS name), (SELECT DISTINCT month FROM l)
        )
        SELECT name, month, coalesce(papers, 0) AS papers
        FROM grid LEFT JOIN c USING (name, month) ORDER BY list_position(?, name), month
        """,
        [*params, list(names), list(names), list(names)],
    )


def method_papers(
    con: duckdb.DuckDBPyConnection, name: str, f: Filters, limit: int = 200
) -> pd.DataFrame:
    """Papers that define the method ``name``, newest first."""
    where, params = f.sql()
    return _df(
        con,
        f"SELECT m.expansion, {PAPER_COLUMNS} FROM methods m JOIN paper_labels USING (arxiv_id) "
        f"WHERE m.name = ? AND {where} ORDER BY submitted_month DESC, arxiv_id DESC LIMIT ?",
        [name, *params, limit],
    )


def review_queue(
    con: duckdb.DuckDBPyConnection, f: Filters, exclude: tuple[str, ...] = (), limit: int = 50
) -> pd.DataFrame:
    """Model-labelled papers to review: borderline first, then the least confident call.

    ``confidence`` is the probability of the least certain single-label decision.
    """
    where, params = f.sql()
    return _df(
        con,
        f"""
        SELECT {PAPER_COLUMNS},
            CASE WHEN post_training THEN least(post_training_prob, provenance_prob,
                                               dominant_role_prob, contribution_prob)
                 ELSE 1 - post_training_prob END AS confidence
        FROM paper_labels
        WHERE NOT is_gold AND label_source IS NOT NULL AND NOT list_contains(?, arxiv_id)
              AND {where}
        ORDER BY coalesce(borderline, false) DESC, confidence ASC, arxiv_id LIMIT ?
        """,
        [list(exclude), *params, limit],
    )


def corrections_dir(db_path: Path | str) -> Path:
    """Where review corrections are appended: ``corrections/`` next to the working database."""
    return Path(db_path).parent / "corrections"


def pending_corrections(directory: Path) -> set[str]:
    """Paper ids with a correction on file (imported or not)."""
    out: set[str] = set()
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.add(json.loads(line)["arxiv_id"])
            except (ValueError, KeyError, TypeError):
                log.warning("%s: skipping a line that is not a correction record", path)
    return out


def append_correction(directory: Path, record: dict) -> Path:
    """Validate a codebook record and append it to today's corrections file (locked append)."""
    ann = parse_record(record)
    name = ann.annotator.removeprefix(CORRECTION_PREFIX)
    if name == ann.annotator or not name.strip():
        raise LitmineError(
            f"a correction's annotator must be '{CORRECTION_PREFIX}<name>', got {ann.annotator!r}",
            hint="enter your name in the review form",
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"dashboard-{store.now():%Y-%m-%d}.jsonl"
    line = json.dumps({**record, "taxonomy_version": TAXONOMY_VERSION}, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return path


def export_count(con: duckdb.DuckDBPyConnection, filters) -> int:  # noqa: ANN001
    """How many rows ``litmine export`` writes for ``filters`` (a ``litmine.export.ExportFilters``)."""
    from litmine import export

    sql, params = export.export_query(filters)
    return int(con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0])
