"""The database schema as numbered migrations, applied in order by :func:`litmine.store.migrate`.

A migration is a named function that creates or replaces tables and views; each runs once, in a
transaction, and is recorded in ``schema_migrations``. Add a new one at the end; never edit one
that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

EMBED_DIM = 384


def _m001_core(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE papers (
            arxiv_id VARCHAR PRIMARY KEY,
            version INTEGER,
            title VARCHAR NOT NULL,
            abstract VARCHAR NOT NULL,
            authors VARCHAR,
            categories VARCHAR[],
            primary_category VARCHAR,
            submitted_month DATE,
            published TIMESTAMP,
            updated TIMESTAMP,
            content_hash VARCHAR NOT NULL,
            source VARCHAR,
            first_seen TIMESTAMP NOT NULL,
            last_changed TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            parent_id VARCHAR,
            stage VARCHAR NOT NULL,
            started TIMESTAMP NOT NULL,
            ended TIMESTAMP,
            status VARCHAR NOT NULL,
            fetched BIGINT DEFAULT 0,
            inserted BIGINT DEFAULT 0,
            updated BIGINT DEFAULT 0,
            unchanged BIGINT DEFAULT 0,
            params VARCHAR,
            error VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE cursors (
            name VARCHAR PRIMARY KEY,
            value TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )
        """
    )


def _m002_embeddings(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        CREATE TABLE embeddings (
            arxiv_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            vector FLOAT[{EMBED_DIM}] NOT NULL,
            created TIMESTAMP NOT NULL,
            PRIMARY KEY (arxiv_id, model)
        )
        """
    )


def _m003_labels(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE label_events (
            event_id VARCHAR PRIMARY KEY,
            arxiv_id VARCHAR NOT NULL,
            axis VARCHAR NOT NULL,
            value JSON NOT NULL,
            annotator VARCHAR NOT NULL,
            taxonomy_version VARCHAR NOT NULL,
            evidence VARCHAR,
            source_file VARCHAR,
            created TIMESTAMP NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE predictions (
            arxiv_id VARCHAR NOT NULL,
            model_id VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            taxonomy_version VARCHAR NOT NULL,
            post_training BOOLEAN NOT NULL,
            post_training_prob DOUBLE NOT NULL,
            provenance VARCHAR,
            provenance_prob DOUBLE,
            interface VARCHAR[],
            interface_probs JSON,
            roles VARCHAR[],
            roles_probs JSON,
            dominant_role VARCHAR,
            dominant_role_prob DOUBLE,
            families VARCHAR[],
            families_probs JSON,
            contribution VARCHAR,
            contribution_prob DOUBLE,
            borderline BOOLEAN,
            evidence JSON,
            created TIMESTAMP NOT NULL,
            PRIMARY KEY (arxiv_id, model_id)
        )
        """
    )


def _m004_derived(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE map_coords (
            arxiv_id VARCHAR PRIMARY KEY,
            model VARCHAR NOT NULL,
            x FLOAT NOT NULL,
            y FLOAT NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE methods (
            arxiv_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            expansion VARCHAR,
            content_hash VARCHAR NOT NULL,
            PRIMARY KEY (arxiv_id, name)
        )
        """
    )
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")


def _m005_label_views(con: duckdb.DuckDBPyConnection) -> None:
    """``gold_current``: latest gold event per paper and axis; ``paper_labels``: gold over model."""
    con.execute(
        """
        CREATE VIEW gold_current AS
        WITH cur AS (
            SELECT * FROM label_events
            QUALIFY row_number() OVER (PARTITION BY arxiv_id, axis
                                       ORDER BY created DESC, event_id DESC) = 1
        ), wide AS (
            SELECT arxiv_id,
                any_value(CASE WHEN axis = 'post_training' THEN value ->> '$' END) = 'yes'
                    AS post_training,
                any_value(CASE WHEN axis = 'provenance' THEN value ->> '$' END) AS provenance,
                any_value(CASE WHEN axis = 'interface' THEN CAST(value AS VARCHAR[]) END)
                    AS interface,
                any_value(CASE WHEN axis = 'roles' THEN CAST(value AS VARCHAR[]) END) AS roles,
                any_value(CASE WHEN axis = 'dominant_role' THEN value ->> '$' END) AS dominant_role,
                any_value(CASE WHEN axis = 'families' THEN CAST(value AS VARCHAR[]) END)
                    AS families,
                any_value(CASE WHEN axis = 'contribution' THEN value ->> '$' END) AS contribution,
                any_value(CASE WHEN axis = 'borderline' THEN CAST(value AS BOOLEAN) END)
                    AS borderline,
                any_value(CASE WHEN axis = 'post_training' THEN evidence END) AS evidence,
                any_value(CASE WHEN axis = 'post_training' THEN annotator END) AS annotator,
                max(created) AS gold_updated
            FROM cur GROUP BY arxiv_id
        )
        SELECT arxiv_id, post_training,
            CASE WHEN post_training THEN provenance END AS provenance,
            CASE WHEN post_training THEN interface END AS interface,
            CASE WHEN post_training THEN roles END AS roles,
            CASE WHEN post_training THEN dominant_role END AS dominant_role,
            CASE WHEN post_training THEN families END AS families,
            CASE WHEN post_training THEN contribution END AS contribution,
            CASE WHEN post_training THEN coalesce(borderline, false) END AS borderline,
            evidence, annotator, gold_updated
        FROM wide WHERE post_training IS NOT NULL
        """
    )
    con.execute(
        """
        CREATE VIEW paper_labels AS
        SELECT p.arxiv_id, p.title, p.abstract, p.authors, p.categories, p.primary_category,
            p.submitted_month,
            g.arxiv_id IS NOT NULL AS is_gold,
            CASE WHEN g.arxiv_id IS NOT NULL THEN 'gold' ELSE pr.model_id END AS label_source,
            coalesce(g.post_training, pr.post_training) AS post_training,
            CASE WHEN g.arxiv_id IS NOT NULL THEN 1.0 ELSE pr.post_training_prob END
                AS post_training_prob,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.provenance ELSE pr.provenance END AS provenance,
            CASE WHEN g.arxiv_id IS NOT NULL THEN 1.0 ELSE pr.provenance_prob END AS provenance_prob,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.interface ELSE pr.interface END AS interface,
            pr.interface_probs,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.roles ELSE pr.roles END AS roles,
            pr.roles_probs,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.dominant_role ELSE pr.dominant_role END
                AS dominant_role,
            CASE WHEN g.arxiv_id IS NOT NULL THEN 1.0 ELSE pr.dominant_role_prob END
                AS dominant_role_prob,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.families ELSE pr.families END AS families,
            pr.families_probs,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.contribution ELSE pr.contribution END
                AS contribution,
            CASE WHEN g.arxiv_id IS NOT NULL THEN 1.0 ELSE pr.contribution_prob END
                AS contribution_prob,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.borderline ELSE pr.borderline END
                AS borderline,
            CASE WHEN g.arxiv_id IS NOT NULL THEN g.evidence ELSE pr.evidence ->> '$.post_training' END
                AS evidence,
            pr.evidence AS evidence_by_axis,
            pr.model_id,
            coalesce(g.gold_updated, pr.created) AS labelled_at
        FROM papers p
        LEFT JOIN gold_current g USING (arxiv_id)
        LEFT JOIN predictions pr ON pr.arxiv_id = p.arxiv_id
            AND pr.model_id = (SELECT value FROM meta WHERE key = 'current_model')
        """
    )


def _m006_text_processed(con: duckdb.DuckDBPyConnection) -> None:
    """Which paper texts the method-name extractor has seen (papers without any name included)."""
    con.execute(
        "CREATE TABLE text_processed (arxiv_id VARCHAR PRIMARY KEY, content_hash VARCHAR NOT NULL)"
    )


PAPER_LABELS_V2 = """
    CREATE OR REPLACE VIEW paper_labels AS
    SELECT p.arxiv_id, p.title, p.abstract, p.authors, p.categories, p.primary_category,
        p.submitted_month,
        g.arxiv_id IS NOT NULL AS is_gold,
        CASE WHEN g.arxiv_id IS NOT NULL THEN 'gold' ELSE pr.model_id END AS label_source,
        coalesce(g.post_training, pr.post_training) AS post_training,
        CASE WHEN g.arxiv_id IS NULL THEN pr.post_training_prob
             WHEN g.post_training THEN 1.0 ELSE 0.0 END AS post_training_prob,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.provenance ELSE pr.provenance END AS provenance,
        CASE WHEN g.arxiv_id IS NULL THEN pr.provenance_prob
             WHEN g.provenance IS NOT NULL THEN 1.0 END AS provenance_prob,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.interface ELSE pr.interface END AS interface,
        CASE WHEN g.arxiv_id IS NULL THEN pr.interface_probs END AS interface_probs,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.roles ELSE pr.roles END AS roles,
        CASE WHEN g.arxiv_id IS NULL THEN pr.roles_probs END AS roles_probs,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.dominant_role ELSE pr.dominant_role END
            AS dominant_role,
        CASE WHEN g.arxiv_id IS NULL THEN pr.dominant_role_prob
             WHEN g.dominant_role IS NOT NULL THEN 1.0 END AS dominant_role_prob,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.families ELSE pr.families END AS families,
        CASE WHEN g.arxiv_id IS NULL THEN pr.families_probs END AS families_probs,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.contribution ELSE pr.contribution END
            AS contribution,
        CASE WHEN g.arxiv_id IS NULL THEN pr.contribution_prob
             WHEN g.contribution IS NOT NULL THEN 1.0 END AS contribution_prob,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.borderline ELSE pr.borderline END AS borderline,
        CASE WHEN g.arxiv_id IS NOT NULL THEN g.evidence
             ELSE coalesce(pr.evidence ->> '$.post_training.yes',
                           pr.evidence ->> '$.post_training.no') END AS evidence,
        pr.evidence AS evidence_by_axis,
        pr.model_id,
        coalesce(g.gold_updated, pr.created) AS labelled_at
    FROM papers p
    LEFT JOIN gold_current g USING (arxiv_id)
    LEFT JOIN predictions pr ON pr.arxiv_id = p.arxiv_id
        AND pr.model_id = (SELECT value FROM meta WHERE key = 'current_model')
"""


def _m007_gold_probabilities(con: duckdb.DuckDBPyConnection) -> None:
    """Gold P(post-training) is 1 or 0 by the label; evidence read from per-label predictions."""
    con.execute(PAPER_LABELS_V2)


# Embedded papers (vectors of model ?) without a prediction from model ? for their current text.
UNPREDICTED = """
    SELECT p.arxiv_id
    FROM papers p
    JOIN embeddings e ON e.arxiv_id = p.arxiv_id AND e.model = ?
        AND e.content_hash = p.content_hash
    WHERE NOT EXISTS (
        SELECT 1 FROM predictions pr
        WHERE pr.arxiv_id = p.arxiv_id AND pr.model_id = ? AND pr.content_hash = p.content_hash
    )
"""

GATE_STATE = """
    CREATE OR REPLACE VIEW gate_state AS
    WITH g AS (
        SELECT max(CASE WHEN key = 'current_gate' THEN value END) AS gate_id,
            max(CASE WHEN key = 'gate_cut' THEN value END)::DOUBLE AS cut
        FROM meta
    )
    SELECT p.arxiv_id, s.prob AS gate_prob,
        CASE WHEN coalesce(g.gate_id, '') = '' THEN 'open'
             WHEN s.arxiv_id IS NULL OR s.gate_id <> g.gate_id
                  OR s.content_hash <> p.content_hash THEN 'unscored'
             WHEN s.prob >= g.cut THEN 'passed'
             ELSE 'gated' END AS gate
    FROM papers p CROSS JOIN g
    LEFT JOIN gate_scores s ON s.arxiv_id = p.arxiv_id
"""


def _rewrite(sql: str, *pairs: tuple[str, str]) -> str:
    """``sql`` with each (old, new) replaced; an ``old`` that is not there is an error."""
    for old, new in pairs:
        if old not in sql:
            raise AssertionError(f"view rewrite: {old[:60]!r} not found")
        sql = sql.replace(old, new)
    return sql


# Gold wins; else a paper below the current gate's cut is post_training = no with its gate
# probability (label_source 'gate'); else the current model's prediction.
PAPER_LABELS_V3 = _rewrite(
    PAPER_LABELS_V2,
    (
        "CASE WHEN g.arxiv_id IS NOT NULL THEN 'gold' ELSE pr.model_id END AS label_source",
        "CASE WHEN g.arxiv_id IS NOT NULL THEN 'gold' WHEN gs.gate = 'gated' THEN 'gate'\n"
        "             ELSE pr.model_id END AS label_source",
    ),
    (
        "coalesce(g.post_training, pr.post_training) AS post_training",
        "coalesce(g.post_training, CASE WHEN gs.gate = 'gated' THEN false END, pr.post_training)\n"
        "            AS post_training",
    ),
    (
        "CASE WHEN g.arxiv_id IS NULL THEN pr.post_training_prob\n",
        "CASE WHEN g.arxiv_id IS NULL AND gs.gate = 'gated' THEN gs.gate_prob\n"
        "             WHEN g.arxiv_id IS NULL THEN pr.post_training_prob\n",
    ),
    (
        "coalesce(g.gold_updated, pr.created) AS labelled_at",
        "coalesce(g.gold_updated, pr.created) AS labelled_at,\n        gs.gate_prob, gs.gate",
    ),
    (
        "LEFT JOIN predictions pr ON pr.arxiv_id = p.arxiv_id\n",
        "LEFT JOIN gate_state gs ON gs.arxiv_id = p.arxiv_id\n"
        "    LEFT JOIN predictions pr ON pr.arxiv_id = p.arxiv_id AND gs.gate <> 'gated'\n",
    ),
)


def _m008_gate(con: duckdb.DuckDBPyConnection) -> None:
    """The relevance gate's scores; ``gate_state`` per paper; gated papers in ``paper_labels``."""
    con.execute(
        """
        CREATE TABLE gate_scores (
            arxiv_id VARCHAR PRIMARY KEY,
            gate_id VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            prob DOUBLE NOT NULL
        )
        """
    )
    con.execute(GATE_STATE)
    con.execute(PAPER_LABELS_V3)


MIGRATIONS: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    (1, "core", _m001_core),
    (2, "embeddings", _m002_embeddings),
    (3, "labels", _m003_labels),
    (4, "derived", _m004_derived),
    (5, "label_views", _m005_label_views),
    (6, "text_processed", _m006_text_processed),
    (7, "gold_probabilities", _m007_gold_probabilities),
    (8, "gate", _m008_gate),
]
