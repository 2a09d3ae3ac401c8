"""The Streamlit dashboard under AppTest: every page on a seeded database, widgets driven by key,
numbers checked against direct queries, the published copy, refresh and empty databases."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from litmine import export, ingest, labels, store
from litmine.config import published_db_path
from litmine.errors import LitmineError, UnknownLabel
from litmine.queries.base import Filters, open_readonly
from litmine.queries.indicators import INDICATORS, indicator_periods
from litmine.queries.methods import trending_methods
from litmine.queries.review import append_correction, pending_corrections
from litmine.taxonomy import parse_record
from tests import dashboard_fixtures as fx

APP = str(fx.REPO / "dashboard" / "app.py")
PAGES = ("evolution", "indicators", "map", "explorer", "methods", "review", "export")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    return fx.shared_seeded_db(tmp_path_factory)


@pytest.fixture(scope="module", autouse=True)
def release_dashboard_caches():
    """Close the dashboard's cached connections when the module is done."""
    yield
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()


def sql(path: Path, query: str, params: list | None = None) -> list[tuple]:
    """A direct query on a database file (the connection is closed again at once)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def app(db: Path, monkeypatch, page: str | None = None) -> AppTest:
    monkeypatch.setenv("LITMINE_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120).run()
    if page:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def frame(at: AppTest, *columns: str, index: int = 0):
    """The ``index``-th table holding all ``columns`` (AppTest does not expose table keys)."""
    return [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)][index]


def ids(df) -> list[str]:
    return sorted(df["link"].str.rsplit("/", n=1).str[-1])


def figures(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def values(v) -> list:
    """A plotly array, plain or base64-typed (``{"dtype", "bdata"}``)."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def titled(figs: list[dict], text: str) -> dict:
    return next(f for f in figs if text in str(f["layout"].get("title", {}).get("text", "")))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(seeded, monkeypatch, page):
    at = app(seeded, monkeypatch, page)
    assert at.title, f"{page} shows no title"
    assert not at.error


def test_evolution_numbers_match_direct_queries(seeded, monkeypatch):
    at = app(seeded, monkeypatch)
    (papers, pt, gold) = sql(
        seeded,
        "SELECT count(*), count(*) FILTER (WHERE post_training), "
        "count(*) FILTER (WHERE post_training AND is_gold) FROM paper_labels",
    )[0]
    assert metric(at, "Papers crawled") == f"{papers:,}"
    assert metric(at, "Post-training papers") == f"{pt:,}"
    assert metric(at, "Gold-labelled among them") == f"{gold:,}"
    assert metric(at, "Share of papers crawled") == f"{pt / papers * 100:.1f}%"
    monthly = sql(
        seeded,
        "SELECT submitted_month, count(*) FILTER (WHERE post_training), count(*) "
        "FROM paper_labels GROUP BY 1 ORDER BY 1",
    )
    traces = {t["name"]: t for t in titled(figures(at), "Post-training papers per month")["data"]}
    assert values(traces["all papers crawled"]["y"]) == [r[2] for r in monthly]
    assert values(traces["post-training papers"]["y"]) == [r[1] for r in monthly]
    share = values(traces["share of all papers crawled"]["y"])
    assert share == pytest.approx([100 * r[1] / r[2] for r in monthly])


def test_confidence_filter_keeps_gold(seeded, monkeypatch):
    at = app(seeded, monkeypatch)
    at.slider(key="f_confidence").set_value(0.95).run()
    (pt, gold_low) = sql(
        seeded,
        "SELECT count(*) FILTER (WHERE l.post_training AND (is_gold OR l.post_training_prob >= 0.95)),"
        " count(*) FILTER (WHERE is_gold AND l.post_training AND p.post_training_prob < 0.95)"
        " FROM paper_labels l LEFT JOIN predictions p ON p.arxiv_id = l.arxiv_id AND p.model_id = ?",
        [fx.CURRENT_MODEL],
    )[0]
    assert gold_low >= 1  # a gold paper whose model probability is low still counts
    assert metric(at, "Post-training papers") == f"{pt:,}"
    model_pt = sql(
        seeded,
        "SELECT count(*) FROM predictions WHERE model_id = ? AND post_training_prob >= 0.95",
        [fx.CURRENT_MODEL],
    )[0][0]
    assert pt != model_pt


def test_month_and_category_filters(seeded, monkeypatch):
    at = app(seeded, monkeypatch)
    at.select_slider(key="f_months").set_value(("2025-03", "2025-05"))
    at.multiselect(key="f_categories").set_value(["cs.CL"]).run()
    (papers, pt) = sql(
        seeded,
        "SELECT count(*), count(*) FILTER (WHERE post_training) FROM paper_labels "
        "WHERE submitted_month BETWEEN '2025-03-01' AND '2025-05-01' "
        "AND list_contains(categories, 'cs.CL')",
    )[0]
    assert metric(at, "Papers crawled") == str(papers)
    assert metric(at, "Post-training papers") == str(pt)
    assert 0 < pt < 40


def test_breakdown_counts_and_shares(seeded, monkeypatch):
    at = app(seeded, monkeypatch)
    fams = titled(figures(at), "Families: papers per month")["data"]
    rl = next(t for t in fams if t["name"] == "rl_rewards")
    expected = sql(
        seeded,
        "SELECT count(*) FILTER (WHERE list_contains(families, 'rl_rewards')) FROM paper_labels "
        "WHERE post_training GROUP BY submitted_month ORDER BY submitted_month",
    )
    assert values(rl["y"]) == [r[0] for r in expected]
    at.get("button_group")[0].set_value("shares").run()
    prov = titled(figures(at), "Provenance: monthly share")["data"]
    totals = np.sum([values(t["y"]) for t in prov], axis=0)
    assert totals == pytest.approx([100.0] * len(totals))


def test_month_selection_lists_its_papers(seeded, monkeypatch):
    at = app(seeded, monkeypatch)
    at.selectbox(key="evo_month").set_value("2025-03").run()
    shown = ids(frame(at, "link"))
    expected = sql(
        seeded,
        "SELECT arxiv_id FROM paper_labels WHERE post_training AND "
        "submitted_month = '2025-03-01' ORDER BY 1",
    )
    assert shown == [r[0] for r in expected]


def test_indicators_match_queries(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "indicators")
    at.slider(key="ind_window").set_value(3).run()
    con = open_readonly(seeded)
    try:
        for ind in INDICATORS.values():
            periods = indicator_periods(con, ind.key, Filters(), 3)
            recent = periods[periods["period"] == "recent"].iloc[0]
            label = f"{ind.a_label} share, last 3 mo."
            assert metric(at, label) == f"{recent['share'] * 100:.0f}%"
    finally:
        con.close()
    (n_online,) = sql(
        seeded,
        "SELECT count(*) FROM paper_labels WHERE post_training "
        "AND list_contains(families, 'online_preference')",
    )[0]
    fig = titled(figures(at), "Online vs offline preference optimization")
    online = next(t for t in fig["data"] if t.get("name") == "online")
    assert sum(values(online["y"])) == n_online


def test_map_colours_and_paper_view(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "map")
    at.selectbox(key="map_color").set_value("families").run()
    at.selectbox(key="map_label").set_value("rl_rewards").run()
    (n,) = sql(
        seeded,
        "SELECT count(*) FROM map_coords JOIN paper_labels USING (arxiv_id) "
        "WHERE post_training AND list_contains(families, 'rl_rewards')",
    )[0]
    names = [t["name"] for t in figures(at)[0]["data"]]
    assert f"rl_rewards ({n:,})" in names
    at.text_input(key="map_open_id").set_value(fx.arxiv_id(4)).run()
    assert any(fx.PAPERS[4][2] in m.value for m in at.markdown)


def test_explorer_full_text_filters_and_paper_view(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "explorer")
    at.text_input(key="explorer_query").set_value('"preference optimization" fresh').run()
    got = ids(frame(at, "link"))
    expected = sql(
        seeded,
        "SELECT arxiv_id FROM papers WHERE contains(lower(title || ' ' || abstract), "
        "'preference optimization') AND contains(lower(title || ' ' || abstract), 'fresh') "
        "ORDER BY 1",
    )
    assert got == [r[0] for r in expected] and got
    at.multiselect(key="explorer_source").set_value(["gold"]).run()
    gold = frame(at, "link")
    assert set(gold["label_source"]) == {"gold"}
    gold_id = gold["link"].iloc[0].rsplit("/", 1)[-1]
    at.selectbox(key="explorer_paper").set_value(gold_id).run()
    rows = frame(at, "axis", "evidence")
    assert set(rows["source"]) == {"gold"}
    assert rows.loc[rows["axis"] == "families", "label"].tolist() == ["offline_preference"]
    near = frame(at, "link", "similarity", index=-1)
    assert len(near) == 8 and gold_id not in set(ids(near))


def test_explorer_model_labels_show_probability_and_evidence(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "explorer")
    aid = fx.arxiv_id(5)
    at.text_input(key="explorer_query").set_value("margin").run()
    at.selectbox(key="explorer_paper").set_value(aid).run()
    rows = frame(at, "axis", "evidence").set_index("axis")
    pred = fx.prediction_row(5, fx.CURRENT_MODEL)
    assert rows.loc["post_training", "probability"] == pytest.approx(pred["post_training_prob"])
    assert rows.loc["post_training", "source"] == fx.CURRENT_MODEL
    assert rows.loc["provenance", "evidence"] == pred["evidence"]["provenance"][pred["provenance"]]


def test_explorer_semantic_search(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "explorer")
    at.radio(key="explorer_mode").set_value("Semantic")
    at.text_input(key="explorer_query").set_value("a small student learns from a big teacher").run()
    top = frame(at, "link").iloc[0]
    topic = next(t for i, (_, t, title, _) in enumerate(fx.PAPERS) if title == top["title"])
    assert topic in ("kd", "gkd")
    assert top["similarity"] > 0.3


def test_trending_methods_match_query(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "methods")
    at.number_input(key="methods_min").set_value(1).run()
    con = open_readonly(seeded)
    try:
        expected = trending_methods(con, Filters(), 3, 1, 25, True)
    finally:
        con.close()
    assert frame(at, "growth")["name"].tolist() == expected["name"].tolist()
    at.selectbox(key="methods_name").set_value("DAPO").run()
    shown = frame(at, "link", "expansion")
    (n,) = sql(seeded, "SELECT count(*) FROM methods WHERE name = 'DAPO'")[0]
    assert len(shown) == n and set(shown["expansion"]) == {fx.TOPICS["hybrid"][6][1]}


def test_review_correction_becomes_a_gold_label(seeded, tmp_path, monkeypatch):
    db = fx.copy_db(seeded, tmp_path / "corpus")
    _publish(seeded, db)  # the dashboard reads the copy; the import below writes the database
    at = app(db, monkeypatch, "review")
    first = frame(at, "link", "confidence")["link"].iloc[0].rsplit("/", 1)[-1]
    assert at.selectbox(key="review_paper").value == first
    at.selectbox(key="review_paper").set_value(fx.arxiv_id(5)).run()
    at.button(key="review_submit").click().run()  # no name yet
    assert at.error and not (tmp_path / "corpus" / "corrections").exists()
    at.text_input(key="review_annotator").set_value("carol")
    at.multiselect(key="review_families").set_value(["online_preference"])
    at.selectbox(key="review_provenance").set_value("on_policy")
    at.text_area(key="review_evidence").set_value("a margin to the logistic preference loss")
    at.button(key="review_submit").click().run()
    assert not at.exception and not at.error
    files = list((tmp_path / "corpus" / "corrections").glob("dashboard-*.jsonl"))
    record = json.loads(files[0].read_text().splitlines()[-1])
    ann = parse_record(record)
    assert (ann.arxiv_id, ann.annotator, ann.families) == (
        fx.arxiv_id(5),
        "dashboard:carol",
        ("online_preference",),
    )
    assert fx.arxiv_id(5) not in set(ids(frame(at, "link", "confidence")))
    con = store.open_db(db)
    try:
        labels.import_labels(con, files[0], timestamp_key=record["created"])
        row = con.execute(
            "SELECT families, annotator FROM gold_current WHERE arxiv_id = ?", [fx.arxiv_id(5)]
        ).fetchone()
    finally:
        con.close()
    assert row == (["online_preference"], "dashboard:carol")


def test_export_count_matches_export_frame(seeded, monkeypatch):
    at = app(seeded, monkeypatch, "export")
    at.multiselect(key="export_families").set_value(["rl_rewards"]).run()
    con = open_readonly(seeded)
    try:
        filters = export.ExportFilters(
            since="2025-01", until="2025-08", post_training_only=True, families=("rl_rewards",)
        )
        n = len(export.export_frame(con, filters))
    finally:
        con.close()
    assert metric(at, "Rows to export") == f"{n:,}" and n > 0
    assert any("--family rl_rewards" in c.value for c in at.code)


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_no_data_shows_what_to_run(tmp_path, monkeypatch, kind):
    db = tmp_path / "litmine.duckdb"
    if kind == "empty":
        store.open_db(db).close()
    at = app(db, monkeypatch)
    assert any("litmine nightly --snapshot" in c.value for c in at.code)
    assert at.warning and not at.metric


def _publish(src: Path, working: Path) -> Path:
    """Copy ``src`` over the published path atomically, as the nightly job does."""
    dst = published_db_path(working)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def test_reads_published_copy_and_shows_new_publish(seeded, tmp_path, monkeypatch):
    working = tmp_path / "corpus" / "litmine.duckdb"
    store.open_db(working).close()  # the working db is empty: data must come from the copy
    _publish(seeded, working)
    at = app(working, monkeypatch)
    assert metric(at, "Papers crawled") == "40"
    newer = fx.copy_db(seeded, tmp_path / "next")
    con = store.open_db(newer)
    try:
        with store.transaction(con):
            ingest.ingest_rows(
                con,
                [("2508.20001", 1, "A new paper", "An abstract.", "X", ["cs.CL"], "cs.CL",
                  datetime(2025, 8, 2), datetime(2025, 8, 2), "test")],
            )  # fmt: skip
    finally:
        con.close()
    _publish(newer, working)
    at.run()
    assert not at.exception
    assert metric(at, "Papers crawled") == "41"


def test_keeps_serving_while_the_writer_holds_the_database(seeded, tmp_path, monkeypatch):
    working = fx.copy_db(seeded, tmp_path / "corpus")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(120)", str(working)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        at = app(working, monkeypatch)  # no published copy: the locked working db
        assert any("nightly job is writing" in w.value for w in at.warning)
        _publish(seeded, working)
        at.run()
        assert not at.exception and metric(at, "Papers crawled") == "40"
    finally:
        holder.kill()
        holder.wait()


def test_query_layer_validates_its_inputs(tmp_path):
    with pytest.raises(LitmineError, match="no database") as err:
        open_readonly(tmp_path / "none.duckdb")
    assert "litmine nightly --snapshot" in str(err.value)
    with pytest.raises(UnknownLabel, match="valid labels"):
        Filters(labels=(("families", ("dpo",)),)).sql()
    with pytest.raises(UnknownLabel):
        Filters(labels=(("source", ("human",)),)).sql()
    where, params = Filters(labels=(("families", ("sft",)),), min_confidence=0.8).sql()
    assert "list_has_any(families" in where and params == [0.8, ["sft"]]


def test_corrections_are_validated_and_appended_whole(tmp_path):
    folder = tmp_path / "corrections"
    base = {"arxiv_id": "2501.00001", "post_training": False, "taxonomy_version": "zhao2026-v1"}
    with pytest.raises(LitmineError, match="dashboard:<name>"):
        append_correction(folder, {**base, "annotator": "alice"})
    with pytest.raises(UnknownLabel):
        append_correction(folder, {**base, "post_training": True, "annotator": "dashboard:alice"})
    assert not folder.exists()

    def write(n: int) -> None:
        for i in range(40):
            rec = {**base, "arxiv_id": f"2501.{n:02d}{i:03d}", "annotator": f"dashboard:w{n}"}
            append_correction(folder, rec)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (path,) = folder.glob("dashboard-*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 160 and all(parse_record(r) for r in records)
    assert len(pending_corrections(folder)) == 160


def test_gated_papers_are_labelled_by_the_gate_and_the_map_says_what_it_covers(
    seeded, tmp_path, monkeypatch
):
    db = fx.copy_db(seeded, tmp_path / "gated")
    con = store.open_db(db)
    try:  # a relevance gate that stopped three unembedded papers
        gated = [r[0] for r in con.execute(
            "SELECT arxiv_id FROM papers WHERE arxiv_id NOT IN (SELECT arxiv_id FROM gold_current) "
            "ORDER BY arxiv_id LIMIT 3").fetchall()]  # fmt: skip
        con.execute("DELETE FROM embeddings WHERE list_contains(?, arxiv_id)", [gated])
        con.execute("DELETE FROM map_coords WHERE list_contains(?, arxiv_id)", [gated])
        con.execute(
            "INSERT INTO gate_scores SELECT arxiv_id, 'gate-test', content_hash, "
            "CASE WHEN list_contains(?, arxiv_id) THEN 0.04 ELSE 0.9 END FROM papers",
            [gated],
        )
        store.set_meta(con, "current_gate", "gate-test")
        store.set_meta(con, "gate_cut", "0.3")
    finally:
        con.close()
    at = app(db, monkeypatch, "map")
    (embedded,) = sql(db, "SELECT count(*) FROM embeddings")[0]
    caption = " ".join(c.value for c in at.caption)
    assert f"cover the {embedded:,} embedded papers" in caption
    assert "The 3 papers it stopped are not embedded" in caption
    at = app(db, monkeypatch, "explorer")
    title = fx.PAPERS[int(gated[0].split(".")[1]) - 10001][2]
    at.text_input(key="explorer_query").set_value(f'"{title}"').run()
    at.selectbox(key="explorer_paper").set_value(gated[0]).run()
    assert any("relevance gate" in m.value for m in at.markdown)
    rows = frame(at, "axis", "evidence").set_index("axis")
    assert rows.loc["post_training", "label"] == "no"
    assert rows.loc["post_training", "probability"] == pytest.approx(0.96)
