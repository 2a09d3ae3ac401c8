import tomllib
from pathlib import Path

from litmine import text


def test_sentences_split_on_punctuation():
    s = text.sentences("We propose a method. It works well! Does it scale? Yes.")
    assert s == ["We propose a method.", "It works well!", "Does it scale?", "Yes."]


def test_method_names_defined_in_the_abstract():
    pipe, _ = text.nlp()
    doc = pipe(
        "We introduce Group Relative Policy Optimization (GRPO) and compare it with "
        "Proximal Policy Optimization (PPO) on Large Language Models (LLMs). "
        "Scores on the benchmark (MMLU) improve (see Table 2)."
    )
    names = {m.name: m.expansion for m in text.defined_methods(doc)}
    assert names == {
        "GRPO": "Group Relative Policy Optimization",
        "PPO": "Proximal Policy Optimization",
    }


def test_cue_features_count_codebook_phrases():
    m = text.cue_matrix(
        ["We fine-tune the LLM with DPO on a preference dataset.", "A robot walks."]
    )
    col = {g: j for j, g in enumerate(text.CUE_GROUPS)}
    assert m[0, col["offline_preference"]] > 0 and m[1, col["offline_preference"]] == 0
    assert m[1, col["negative"]] > 0


# The feature columns the committed classifier reads, in order (models/litmine-classifier.skops).
CUE_COLUMNS = (
    "llm", "post_training", "sft", "offline_preference", "online_preference", "preferences",
    "offline_filtering", "rl_rewards", "process_verifier", "self_improvement",
    "offpolicy_distillation", "onpolicy_distillation", "hybrid_pipeline", "on_policy",
    "off_policy", "expansion", "reshaping", "consolidation", "analysis", "data", "system",
    "benchmark", "survey", "negative",
)  # fmt: skip


def test_cue_groups_are_well_formed_and_keep_the_column_order():
    groups = text.cues()
    assert tuple(groups) == text.CUE_GROUPS == CUE_COLUMNS
    for name, phrases in groups.items():
        assert phrases, f"cue group {name} is empty"
        assert len(set(phrases)) == len(phrases), f"cue group {name} repeats a phrase"
        assert all(p and p == " ".join(p.lower().split()) for p in phrases), name


def test_cue_phrases_are_shipped_as_package_data():
    pyproject = tomllib.loads((Path(text.__file__).parents[1] / "pyproject.toml").read_text())
    assert text.CUES_FILE in pyproject["tool"]["setuptools"]["package-data"]["litmine"]


def test_extract_missing_is_incremental(con, write_snapshot):
    from litmine import ingest
    from litmine.config import Scope
    from tests.conftest import snapshot_record

    recs = [
        snapshot_record(1, abstract="We present Direct Preference Optimization (DPO) for LLMs.")
    ]
    recs.append(snapshot_record(2, abstract="No acronyms are defined here."))
    ingest.ingest_snapshot(con, write_snapshot(recs), Scope())
    assert text.extract_missing(con) == 2
    assert con.execute("SELECT name, expansion FROM methods").fetchall() == [
        ("DPO", "Direct Preference Optimization")
    ]
    assert text.extract_missing(con) == 0
