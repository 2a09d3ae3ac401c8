"""The Framework indicators page: shares the survey's framework predicts will move."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from litmine.queries.base import Filters, frame


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
    return frame(
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
    return frame(
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
