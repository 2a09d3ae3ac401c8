"""Review queue: the least confident and borderline papers first, with a form to fix their labels.

A saved review is appended as a codebook record to ``corrections/dashboard-<date>.jsonl`` next to
the working database; ``litmine labels import`` turns it into gold label events, so the dashboard
never writes the database the nightly job owns.
"""

from __future__ import annotations

from datetime import UTC, datetime

import app
import pandas as pd
import streamlit as st

from litmine.errors import LitmineError
from litmine.queries.review import (
    CORRECTION_PREFIX,
    append_correction,
    corrections_dir,
    pending_corrections,
    review_queue,
)
from litmine.taxonomy import AXES, TAXONOMY_VERSION

FORM_AXES = ("provenance", "interface", "roles", "dominant_role", "families", "contribution")

ctx = app.context()
st.title("Review queue")
st.caption(
    "Model labels to check, borderline papers first and then the least confident decision "
    "(the lowest probability among post-training, provenance, dominant role and contribution). "
    "Leave a label unchanged to confirm it."
)
folder = corrections_dir(ctx.db_path)
pending = pending_corrections(folder)
name = st.text_input("Your name (recorded as dashboard:<name>)", key="review_annotator").strip()
if saved := st.session_state.pop("review_saved", None):
    st.success(f"Saved {saved[0]} to `{saved[1]}`; the next `litmine labels import` adds it.")
queue = app.load(review_queue, ctx.key, ctx.filters, tuple(sorted(pending)), 50)
st.caption(
    f"{len(pending)} papers have a review on file in `{folder}` "
    "(`litmine labels import` turns them into gold labels)."
)
if queue.empty:
    st.success("Nothing left to review for these filters.")
    st.stop()
app.paper_table(queue, key="review_table", height=260)

ids = queue["arxiv_id"].tolist()
if st.session_state.get("review_paper") not in ids:
    st.session_state["review_paper"] = ids[0]
titles = dict(zip(ids, queue["title"], strict=True))
aid = st.selectbox(
    "Paper to review", ids, format_func=lambda i: f"{i}  {titles[i]}", key="review_paper"
)
row = queue.set_index("arxiv_id").loc[aid]
app.paper_view(ctx, aid, nearest=False)


def _value(v):  # noqa: ANN001, ANN202
    if isinstance(v, float) and pd.isna(v):
        return None
    return list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v


if st.session_state.get("review_loaded") != aid:  # prefill the form with the model's labels
    st.session_state["review_post_training"] = "yes" if row["post_training"] else "no"
    for axis in FORM_AXES:
        v = _value(row[axis])
        st.session_state[f"review_{axis}"] = (v or []) if AXES[axis].multi else v
    st.session_state["review_borderline"] = bool(_value(row["borderline"]) or False)
    st.session_state["review_evidence"] = ""
    st.session_state["review_loaded"] = aid

with st.form("review_form"):
    pt = st.radio(
        "Post-training paper?", ["yes", "no"], key="review_post_training", horizontal=True
    )
    cols = st.columns(3)
    values = {}
    for i, axis in enumerate(FORM_AXES):
        widget = cols[i % 3].multiselect if AXES[axis].multi else cols[i % 3].selectbox
        extra = {} if AXES[axis].multi else {"index": None}  # the value comes from the prefill
        values[axis] = widget(
            axis.replace("_", " "), AXES[axis].names, key=f"review_{axis}", **extra
        )
    border = st.checkbox(
        "Borderline (a hard case of the survey's Table 7)", key="review_borderline"
    )
    evidence = st.text_area("Evidence: the abstract span that decides", key="review_evidence")
    submitted = st.form_submit_button("Save review", type="primary", key="review_submit")

if submitted:
    record = {
        "arxiv_id": aid,
        "post_training": pt == "yes",
        "evidence": evidence,
        "annotator": f"{CORRECTION_PREFIX}{name}",
        "taxonomy_version": TAXONOMY_VERSION,
        "created": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "reviewed_model": row["label_source"],
    }
    if pt == "yes":
        record.update({a: values[a] for a in FORM_AXES}, borderline=border)
    try:
        path = append_correction(folder, record)
    except LitmineError as exc:
        st.error(str(exc))
    else:
        st.session_state["review_saved"] = (aid, str(path))
        st.rerun()
