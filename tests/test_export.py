"""`litmine export`: round trips in three formats, filters, determinism and the dataset card."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from litmine import store
from litmine.errors import LitmineError, UnknownLabel
from litmine.export import (
    SCHEMA,
    ExportFilters,
    export_dataset,
    export_frame,
    export_table,
    to_bytes,
)
from litmine.ingest import ingest_snapshot
from litmine.labels import import_labels
from litmine.taxonomy import AXES, TAXONOMY_VERSION
from tests.conftest import snapshot_record

MODEL_ID = "test-model-1"
N_PAPERS = 12  # the last one gets neither a gold label nor a prediction

GOLD = [
    {
        "arxiv_id": "2501.30000",
        "post_training": True,
        "provenance": "off_policy",
        "interface": ["preferences"],
        "roles": ["reshaping"],
        "dominant_role": "reshaping",
        "families": ["offline_preference"],
        "contribution": "method",
        "borderline": False,
        "evidence": "Gold evidence zero.",
        "annotator": "alice",
    },
    {"arxiv_id": "2502.30001", "post_training": False, "annotator": "bob", "evidence": "No."},
    {
        "arxiv_id": "2503.30002",
        "post_training": True,
        "provenance": "on_policy",
        "interface": ["rewards", "process_feedback"],
        "roles": ["expansion", "reshaping"],
        "dominant_role": "expansion",
        "families": ["rl_rewards", "process_verifier"],
        "contribution": "method",
        "borderline": True,
        "evidence": "Gold evidence two.",
        "annotator": "alice",
    },
]


def paper_id(i: int) -> str:
    return f"250{1 + i % 6}.{30000 + i:05d}"


def _probs(axis: str, chosen: list[str], i: int) -> str:
    return json.dumps(
        {lb: (0.9 if lb in chosen else round(0.05 + 0.01 * i, 4)) for lb in AXES[axis].names}
    )


def prediction_row(i: int) -> tuple:
    """A model prediction for paper i: even papers are post-training, confidence rises with i."""
    p = round(0.55 + 0.04 * i, 4)
    if i % 2:
        return (paper_id(i), MODEL_ID, "h", TAXONOMY_VERSION, False, round(1 - p, 4),
                None, None, None, _probs("interface", [], i), None, _probs("roles", [], i),
                None, None, None, _probs("families", [], i), None, None, False,
                json.dumps({"post_training": {"no": f"Model evidence {i}."}}))  # fmt: skip
    prov = AXES["provenance"].names[i % 4]
    fams = [AXES["families"].names[(i + 1) % 10], "rl_rewards"] if i % 4 == 0 else ["sft"]
    roles = ["expansion"] if i % 3 else ["consolidation"]
    return (paper_id(i), MODEL_ID, "h", TAXONOMY_VERSION, True, p, prov, p,
            ["rewards"], _probs("interface", ["rewards"], i), roles, _probs("roles", roles, i),
            roles[0], p, fams, _probs("families", fams, i), "method", p, False,
            json.dumps({"post_training": {"yes": f"Model evidence {i}."}}))  # fmt: skip


def seed_labelled_db(db_path: Path, tmp_path: Path, write_snapshot) -> None:
    """Papers from a snapshot, gold labels from a JSONL file, predictions for all but one paper."""
    recs = [snapshot_record(i, id=paper_id(i)) for i in range(N_PAPERS)]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in GOLD))
    with store.connect(db_path) as con:
        ingest_snapshot(con, write_snapshot(recs))
        import_labels(con, gold)
        con.executemany(
            "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, now()::TIMESTAMP)",
            [prediction_row(i) for i in range(N_PAPERS - 1)],
        )
        store.set_meta(con, "current_model", MODEL_ID)


@pytest.fixture
def ro_con(db_path, tmp_path, write_snapshot):
    """A read-only connection (as the dashboard has) to a labelled database."""
    seed_labelled_db(db_path, tmp_path, write_snapshot)
    con = store.open_db(db_path, read_only=True)
    yield con
    con.close()


def test_rows_and_labels_equal_the_database(ro_con):
    ro_con.execute("SELECT arxiv_id FROM papers").fetchone()  # a half-read result, as in a page
    rows = {r["arxiv_id"]: r for r in export_table(ro_con).to_pylist()}
    assert len(rows) == N_PAPERS - 1
    assert list(rows) == sorted(rows)
    assert paper_id(N_PAPERS - 1) not in rows  # unlabelled papers are not exported
    # gold overrides the model's prediction for paper 0 (the model said on_policy-ish labels)
    g0 = rows[paper_id(0)]
    assert (g0["label_source"], g0["provenance"], g0["families"]) == (
        "gold",
        "off_policy",
        ["offline_preference"],
    )
    assert g0["interface_probs"] == {
        lb: float(lb == "preferences") for lb in AXES["interface"].names
    }
    assert g0["evidence"] == "Gold evidence zero."
    g1 = rows[paper_id(1)]
    assert g1["post_training"] is False and g1["provenance"] is None
    assert g1["provenance_prob"] is None and g1["families_probs"] is None
    assert (g0["post_training_prob"], g1["post_training_prob"]) == (1.0, 0.0)  # P(yes)
    assert rows[paper_id(3)]["post_training_prob"] == round(1 - (0.55 + 0.04 * 3), 4)
    m4 = rows[paper_id(4)]
    assert m4["label_source"] == MODEL_ID and m4["families"] == ["process_verifier", "rl_rewards"]
    assert m4["families_probs"]["rl_rewards"] == 0.9 and m4["families_probs"]["sft"] == 0.09
    assert m4["submitted_month"] == "2025-05"
    assert m4["taxonomy_version"] == TAXONOMY_VERSION and m4["evidence"] == "Model evidence 4."
    want = ro_con.execute(
        "SELECT arxiv_id, post_training, provenance, families, dominant_role, label_source "
        "FROM paper_labels WHERE label_source IS NOT NULL ORDER BY arxiv_id"
    ).fetchall()
    got = [
        (r["arxiv_id"], r["post_training"], r["provenance"], r["families"], r["dominant_role"],
         r["label_source"])
        for r in rows.values()
    ]  # fmt: skip
    assert got == [tuple(w) for w in want]


def _normalise(rows: list[dict]) -> list[dict]:
    return json.loads(json.dumps(rows, default=str))


def test_three_formats_round_trip(ro_con, tmp_path):
    expected = _normalise(export_table(ro_con).to_pylist())
    out = {fmt: export_dataset(ro_con, tmp_path / fmt, fmt) for fmt in ("parquet", "csv", "jsonl")}
    assert all(r.rows == len(expected) for r in out.values())

    pq_path = out["parquet"].data_path
    assert pq.read_schema(pq_path).names == SCHEMA.names
    assert _normalise(pq.read_table(pq_path).to_pylist()) == expected
    assert len(pd.read_parquet(pq_path)) == len(expected)
    with duckdb.connect() as dc:
        n, fam = dc.execute(
            "SELECT count(*), count(*) FILTER (WHERE list_contains(families, 'rl_rewards')) "
            "FROM read_parquet(?)",
            [str(pq_path)],
        ).fetchone()
    assert (n, fam) == (len(expected), sum("rl_rewards" in (r["families"] or []) for r in expected))

    lines = out["jsonl"].data_path.read_text().splitlines()
    assert [json.loads(x) for x in lines] == expected

    with open(out["csv"].data_path, newline="") as f:
        got = list(csv.DictReader(f))
    assert [g["arxiv_id"] for g in got] == [e["arxiv_id"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert json.loads(g["families_probs"] or "null") == e["families_probs"]
        assert json.loads(g["families"] or "null") == e["families"]
        assert g["post_training"] == str(e["post_training"]).lower()


def test_parquet_loads_with_hf_datasets(ro_con, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    res = export_dataset(ro_con, tmp_path / "out", "parquet")
    ds = datasets.load_dataset(
        "parquet", data_files=str(res.data_path), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert ds.num_rows == res.rows and ds.column_names == SCHEMA.names
    first = ds[0]
    assert first["arxiv_id"] == paper_id(0) and first["interface_probs"]["preferences"] == 1.0


def test_reexport_gives_identical_bytes(ro_con, tmp_path):
    for fmt in ("parquet", "csv", "jsonl"):
        a = export_dataset(ro_con, tmp_path / f"a-{fmt}", fmt)
        b = export_dataset(ro_con, tmp_path / f"b-{fmt}", fmt)
        export_dataset(ro_con, tmp_path / f"a-{fmt}", fmt)  # over the first one
        for name in (a.data_path.name, "README.md", "SHA256SUMS"):
            assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), (fmt, name)
    frame = export_frame(ro_con, ExportFilters(post_training_only=True))
    assert to_bytes(frame, "csv") == to_bytes(frame, "csv")
    table = export_table(ro_con, ExportFilters(post_training_only=True))
    assert to_bytes(frame, "parquet") == to_bytes(table, "parquet")


def _ids(con, **kw) -> list[str]:
    return [r["arxiv_id"] for r in export_table(con, ExportFilters(**kw)).to_pylist()]


def test_filters(ro_con):
    months = {r["arxiv_id"]: r["submitted_month"] for r in export_table(ro_con).to_pylist()}
    since = _ids(ro_con, since="2025-03", until="2025-04")
    assert since and all("2025-03" <= months[i] <= "2025-04" for i in since)
    assert len(since) == sum("2025-03" <= m <= "2025-04" for m in months.values())

    assert set(_ids(ro_con, gold_only=True)) == {g["arxiv_id"] for g in GOLD}
    pt = _ids(ro_con, post_training_only=True)
    assert paper_id(1) not in pt and paper_id(2) in pt and paper_id(3) not in pt
    assert paper_id(0) in pt  # gold yes

    rl = _ids(ro_con, families=("rl_rewards",))
    assert rl == sorted(paper_id(i) for i in (2, 4, 8))  # gold 0 overrides the model's rl_rewards
    both = _ids(ro_con, families=["rl_rewards"], contribution=("method",), provenance="on_policy")
    assert both == [paper_id(2)]

    # model rows need p >= 0.85 (i >= 8 here); gold rows always pass
    conf = _ids(ro_con, min_confidence=0.85)
    assert conf == sorted([paper_id(i) for i in (0, 1, 2, 8, 9, 10)])
    conf_rl = _ids(ro_con, min_confidence=0.95, families=("rl_rewards",))
    assert conf_rl == [paper_id(2)]  # the rl_rewards probability of model rows is 0.9


def test_filters_reject_unknown_values():
    with pytest.raises(UnknownLabel, match="valid labels"):
        ExportFilters(families=("rl_reward",))
    with pytest.raises(LitmineError, match="YYYY-MM"):
        ExportFilters(since="2025-13")
    with pytest.raises(LitmineError, match="between 0 and 1"):
        ExportFilters(min_confidence=1.5)
    with pytest.raises(LitmineError, match="format"):
        to_bytes(pd.DataFrame(), "xlsx")


def test_dataset_card_and_checksums(ro_con, tmp_path):
    card_json = tmp_path / "model_card.json"
    card_json.write_text(
        json.dumps({"model_id": MODEL_ID, "metrics": {"families": {"micro_f1": 0.8765432}}})
    )
    filters = ExportFilters(post_training_only=True)
    res = export_dataset(ro_con, tmp_path / "out", "csv", filters, model_card=card_json)
    card = res.card_path.read_text()
    rows = export_table(ro_con, filters).to_pylist()
    assert f"{len(rows)} arXiv papers" in card and TAXONOMY_VERSION in card
    assert "post_training_only = True" in card
    n_rl = sum("rl_rewards" in (r["families"] or []) for r in rows)
    assert f"| rl_rewards | {n_rl} |" in card
    n_gold = sum(r["label_source"] == "gold" for r in rows)
    assert f"| gold | {n_gold} |" in card and f"| {MODEL_ID} | {len(rows) - n_gold} |" in card
    assert "| axis | micro_f1 |" in card and "| families | 0.8765 |" in card
    assert "CC0" in card
    assert all(f"`{name}`" in card for name in SCHEMA.names)
    sums = dict(line.split("  ")[::-1] for line in res.checksums_path.read_text().splitlines())
    assert set(sums) == {"labels.csv", "README.md"}
    for name, digest in sums.items():
        assert hashlib.sha256((res.out_dir / name).read_bytes()).hexdigest() == digest
    no_card = export_dataset(ro_con, tmp_path / "o2", "csv", filters, tmp_path / "missing.json")
    assert "No model card" in no_card.card_path.read_text()


def test_export_of_empty_selection(ro_con, tmp_path):
    res = export_dataset(ro_con, tmp_path / "e", "parquet", ExportFilters(since="2030-01"))
    assert res.rows == 0 and pq.read_table(res.data_path).schema.names == SCHEMA.names
