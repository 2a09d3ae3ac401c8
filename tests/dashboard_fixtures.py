"""A seeded litmine database for dashboard tests, benchmarks and screenshots.

``build_seeded_db`` writes a real DuckDB file through the library: 40 synthetic papers (our own
short abstracts) ingested with ``ingest_rows``, embedded with the real all-MiniLM-L6-v2 model,
model predictions, gold labels imported from a JSONL file, method names and map coordinates.
The browser helpers start ``streamlit run`` on a loopback port and screenshot it with headless
Chromium.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from litmine import embed, ingest, labels, projection, store

REPO = Path(__file__).resolve().parent.parent
CURRENT_MODEL = "fixture-logreg-v1"
OLD_MODEL = "fixture-logreg-v0"

# topic -> (provenance, interface, roles, dominant_role, families, contribution, method)
TOPICS: dict[str, tuple] = {
    "dpo": ("off_policy", ["preferences"], ["reshaping"], "reshaping", ["offline_preference"],
            "method", ("DPO", "Direct Preference Optimization")),
    "online": ("on_policy", ["preferences"], ["reshaping"], "reshaping", ["online_preference"],
               "method", ("IPO", "Iterative Preference Optimization")),
    "grpo": ("on_policy", ["rewards"], ["reshaping"], "reshaping", ["rl_rewards"], "method",
             ("GRPO", "Group Relative Policy Optimization")),
    "hint": ("on_policy", ["rewards"], ["expansion"], "expansion", ["rl_rewards"], "method",
             ("HGRL", "Hint Guided Reinforcement Learning")),
    "kd": ("off_policy", ["teacher_targets"], ["consolidation"], "consolidation",
           ["offpolicy_distillation"], "method", ("TTD", "Teacher Trace Distillation")),
    "gkd": ("on_policy", ["teacher_targets"], ["reshaping", "consolidation"], "reshaping",
            ["onpolicy_distillation"], "method", ("OPD", "On-Policy Distillation")),
    "hybrid": ("mixed", ["token_targets", "rewards"], ["expansion", "reshaping"], "expansion",
               ["sft", "rl_rewards", "hybrid_pipeline"], "method",
               ("DAPO", "Decoupled Advantage Policy Optimization")),
    "sft": ("off_policy", ["token_targets"], ["expansion"], "expansion", ["sft"], "data", None),
    "prm": ("on_policy", ["process_feedback"], ["reshaping"], "reshaping", ["process_verifier"],
            "method", ("PRM", "Process Reward Model")),
}  # fmt: skip

# (month, topic or None for a paper outside post-training, title, abstract)
PAPERS: list[tuple[int, str | None, str, str]] = [
    (1, "dpo", "Preference pairs for a helpful assistant",
     "We fine-tune a chat model on a fixed dataset of chosen and rejected answers. Direct Preference Optimization (DPO) improves helpfulness without a reward model."),
    (1, "sft", "Teaching arithmetic with synthetic worked solutions",
     "We write synthetic step-by-step solutions and use supervised fine-tuning to teach a language model multi-digit arithmetic it could not do before."),
    (1, None, "Low-bit weight quantization for convolutional networks",
     "We quantize convolutional image classifiers to four bits with a calibration set and measure accuracy on mobile phones."),
    (1, "kd", "Compressing a reasoning model into a small student",
     "A large teacher writes chain-of-thought traces on a fixed prompt set. Teacher Trace Distillation (TTD) trains a small student on these traces."),
    (1, "dpo", "Offline alignment from human comparisons",
     "Annotators compare two responses and we train the policy directly on the fixed comparison set with Direct Preference Optimization (DPO), reducing harmful answers."),
    (2, "dpo", "A margin loss for preference data",
     "We add a margin to the logistic preference loss and train on an existing offline preference dataset of chosen and rejected responses."),
    (2, "grpo", "Verifiable rewards for math reasoning",
     "We train a language model with reinforcement learning from verifiable answer rewards. Group Relative Policy Optimization (GRPO) samples several answers per question."),
    (2, None, "Retrieval augmented question answering over manuals",
     "We retrieve passages from product manuals and prompt a frozen language model to answer user questions, without any training."),
    (2, "prm", "Step-level verifiers for proofs",
     "A Process Reward Model (PRM) scores each step of a generated proof and guides reinforcement learning on the policy's own rollouts."),
    (2, "sft", "Instruction data for legal documents",
     "We release an instruction tuning dataset of legal drafting tasks and fine-tune open models on it with supervised learning."),
    (3, "grpo", "Group sampling for code generation",
     "We apply Group Relative Policy Optimization (GRPO) with unit-test rewards to a code model and report higher pass@1 on programming benchmarks."),
    (3, "online", "Fresh samples for iterative alignment",
     "Each round the policy generates new responses, a judge ranks them and Iterative Preference Optimization (IPO) trains on the fresh pairs."),
    (3, None, "Legged robot locomotion with deep reinforcement learning",
     "We train a quadruped walking controller in simulation with proximal policy optimization and transfer it to a real robot."),
    (3, "gkd", "Teacher feedback on student rollouts",
     "The student samples its own answers and the teacher scores every token. On-Policy Distillation (OPD) transfers the teacher while avoiding exposure bias."),
    (3, "dpo", "Robust preference learning with noisy labels",
     "We make Direct Preference Optimization (DPO) robust to flipped labels in a fixed human preference dataset."),
    (4, "grpo", "Sharpening reasoning with outcome rewards",
     "Outcome-reward reinforcement learning with Group Relative Policy Optimization (GRPO) raises accuracy on math word problems but not pass@k."),
    (4, "hint", "Hints that unlock hard problems",
     "We give partial solution hints during reinforcement learning. Hint Guided Reinforcement Learning (HGRL) solves problems the base model never solved and raises pass@k."),
    (4, "hybrid", "An open technical report for a reasoning model",
     "Our recipe runs supervised fine-tuning on long reasoning traces followed by reinforcement learning. Decoupled Advantage Policy Optimization (DAPO) stabilizes the RL stage."),
    (4, None, "A benchmark of table understanding",
     "We collect spreadsheets and questions to evaluate language models on table understanding with zero-shot prompting."),
    (4, "online", "Self-rewarding loops for chat models",
     "The model judges its own new responses and Iterative Preference Optimization (IPO) trains on these fresh self-judged pairs every iteration."),
    (5, "grpo", "Efficient group rollouts for reasoning RL",
     "We speed up Group Relative Policy Optimization (GRPO) training with asynchronous rollouts and keep the same verifiable math rewards."),
    (5, "kd", "Distilling long chain-of-thought into compact models",
     "Teacher Trace Distillation (TTD) fine-tunes small models on long reasoning traces generated once by a large teacher."),
    (5, "prm", "Process supervision for agents",
     "A Process Reward Model (PRM) rates each tool call of a web agent and the agent is trained with reinforcement learning on these step rewards."),
    (5, None, "Image generation with diffusion transformers",
     "We scale diffusion transformers for text-to-image generation and study sampling schedules."),
    (5, "hybrid", "From instruction tuning to reinforcement learning in one recipe",
     "We combine supervised fine-tuning and reinforcement learning in a single pipeline and use Decoupled Advantage Policy Optimization (DAPO) for the final stage."),
    (6, "grpo", "Reward shaping for group policy optimization",
     "We shape verifiable rewards for Group Relative Policy Optimization (GRPO) to reduce overlong answers of reasoning models."),
    (6, "online", "Online preference optimization with a learned judge",
     "Iterative Preference Optimization (IPO) with a learned judge trains on pairs sampled from the current policy at every step."),
    (6, "gkd", "On-policy distillation for small math models",
     "On-Policy Distillation (OPD) lets a teacher correct tokens of the student's own sampled solutions, which preserves the teacher's accuracy in a smaller model."),
    (6, "hint", "Guided exploration for reasoning RL",
     "Hint Guided Reinforcement Learning (HGRL) mixes guidance into rollouts so reinforcement learning reaches solutions outside the model's support."),
    (6, None, "Graph neural networks for molecule property prediction",
     "We predict molecular properties with message passing networks on chemical graphs."),
    (7, "grpo", "Scaling group relative RL to agents",
     "Group Relative Policy Optimization (GRPO) trains a software agent with test-based rewards over long multi-turn episodes."),
    (7, "hybrid", "A multi-stage recipe for open reasoning models",
     "Supervised fine-tuning, reinforcement learning with Decoupled Advantage Policy Optimization (DAPO) and a final distillation stage produce our open model family."),
    (7, "online", "Iterative preference rounds for safety",
     "We run several rounds of Iterative Preference Optimization (IPO) on fresh samples to reduce unsafe answers of a chat model."),
    (7, "sft", "Curating demonstrations for tool use",
     "We curate demonstrations of tool calls and fine-tune a language model with supervised learning to use new tools."),
    (7, "grpo", "Entropy control in reasoning RL",
     "We control policy entropy during Group Relative Policy Optimization (GRPO) training with verifiable rewards and avoid collapse."),
    (8, "hybrid", "Interleaving supervised and reinforcement learning",
     "We interleave supervised fine-tuning steps with Decoupled Advantage Policy Optimization (DAPO) updates so reinforcement learning keeps new skills."),
    (8, "grpo", "Verifier-free rewards for open-ended reasoning",
     "We replace answer checking with a reference-based reward and train with Group Relative Policy Optimization (GRPO) on open-ended questions."),
    (8, "online", "On-policy preference optimization at scale",
     "Iterative Preference Optimization (IPO) on fresh policy samples scales to a large chat model with an automatic judge."),
    (8, "hybrid", "Technical report of a small reasoning model",
     "Our small model is trained with supervised fine-tuning then reinforcement learning with Decoupled Advantage Policy Optimization (DAPO)."),
    (8, None, "Speech recognition for low-resource languages",
     "We train an acoustic model for speech recognition in low-resource languages with self-supervised pretraining."),
]  # fmt: skip

UNCLASSIFIED = 37  # index of a paper left without any prediction
FLIPPED = 8  # index of a paper the model calls "no" but gold says "yes"


def arxiv_id(i: int) -> str:
    return f"25{PAPERS[i][0]:02d}.{10001 + i:05d}"


def _probability(i: int) -> float:
    """A deterministic spread of model confidences, with a few low ones for the review queue."""
    return [0.97, 0.91, 0.83, 0.74, 0.66, 0.58][i % 6]


def prediction_row(i: int, model_id: str) -> dict:
    """The model's labels for paper ``i`` (a classify.py-shaped row)."""
    _, topic, _, abstract = PAPERS[i]
    p = _probability(i)
    if topic is None or i == FLIPPED:
        return {"post_training": False, "post_training_prob": 1 - p if i != FLIPPED else 0.4}
    prov, iface, roles, dom, fams, contrib, _ = TOPICS[topic]
    first = abstract.split(". ")[0] + "."

    def probs(axis_labels: list[str], names: tuple[str, ...]) -> dict[str, float]:
        return {n: (round(p, 4) if n in axis_labels else 0.05) for n in names}

    from litmine.taxonomy import AXES

    return {
        "post_training": True,
        "post_training_prob": p,
        "provenance": prov,
        "provenance_prob": round(p - 0.05, 4),
        "interface": iface,
        "interface_probs": probs(iface, AXES["interface"].names),
        "roles": roles,
        "roles_probs": probs(roles, AXES["roles"].names),
        "dominant_role": dom,
        "dominant_role_prob": round(p - 0.1, 4),
        "families": fams,
        "families_probs": probs(fams, AXES["families"].names),
        "contribution": contrib,
        "contribution_prob": round(p - 0.02, 4),
        "borderline": i % 11 == 5,
        "evidence": {
            "post_training": {"yes": first},
            "provenance": {prov: first},
            "families": {f: first for f in fams},
        },
    }


def _insert_predictions(con, model_id: str, indices: list[int], hashes: dict[str, str]) -> None:
    cols = (
        "post_training post_training_prob provenance provenance_prob interface interface_probs "
        "roles roles_probs dominant_role dominant_role_prob families families_probs "
        "contribution contribution_prob borderline evidence"
    ).split()
    rows = []
    for i in indices:
        r = prediction_row(i, model_id)
        vals = [r.get(c) for c in cols]
        vals = [json.dumps(v) if isinstance(v, dict) else v for v in vals]
        rows.append([arxiv_id(i), model_id, hashes[arxiv_id(i)], "zhao2026-v1", *vals])
    con.executemany(
        f"INSERT INTO predictions VALUES ({', '.join(['?'] * (len(cols) + 4))}, now())", rows
    )


def gold_records() -> list[dict]:
    """Human labels for six papers (one flips the model's "no", one moves a family)."""
    base = {"annotator": "fixture:alice", "taxonomy_version": "zhao2026-v1"}
    out = []
    for i in (0, 6, 11, 16, FLIPPED):
        topic = PAPERS[i][1]
        prov, iface, roles, dom, fams, contrib, _ = TOPICS[topic]
        if i == 11:  # gold moves an "online" paper to the offline family
            prov, fams = "off_policy", ["offline_preference"]
        out.append(
            {
                "arxiv_id": arxiv_id(i),
                "post_training": True,
                "provenance": prov,
                "interface": iface,
                "roles": roles,
                "dominant_role": dom,
                "families": fams,
                "contribution": contrib,
                "borderline": False,
                "evidence": PAPERS[i][3].split(". ")[0],
                **base,
            }
        )
    out.append({"arxiv_id": arxiv_id(2), "post_training": False, "evidence": "quantize", **base})
    return out


def build_seeded_db(path: Path, embedder: embed.Embedder | None = None) -> Path:
    """Write the seeded database at ``path`` (see the module docstring) and return the path."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the seeded database is built from scratch")
    con = store.open_db(path)
    try:
        rows = [
            (arxiv_id(i), 1, t, a, "A. Author and B. Author",
             ["cs.CL", "cs.LG"] if topic else ["cs.LG" if i % 2 else "cs.CV"],
             "cs.CL" if topic else ("cs.LG" if i % 2 else "cs.CV"),
             datetime(2025, m, 3), datetime(2025, m, 3), "fixture")
            for i, (m, topic, t, a) in enumerate(PAPERS)
        ]  # fmt: skip
        with store.transaction(con):
            ingest.ingest_rows(con, rows)
        hashes = dict(con.execute("SELECT arxiv_id, content_hash FROM papers").fetchall())
        labelled = [i for i in range(len(PAPERS)) if i != UNCLASSIFIED]
        _insert_predictions(con, CURRENT_MODEL, labelled, hashes)
        _insert_predictions(con, OLD_MODEL, labelled[:10], hashes)
        store.set_meta(con, "current_model", CURRENT_MODEL)
        gold = path.parent / "gold.jsonl"
        gold.write_text("".join(json.dumps(r) + "\n" for r in gold_records()))
        labels.import_labels(con, gold, timestamp_key="fixture")
        methods = [
            (arxiv_id(i), *TOPICS[t][6], hashes[arxiv_id(i)])
            for i, (_, t, _, a) in enumerate(PAPERS)
            if t and TOPICS[t][6] and f"({TOPICS[t][6][0]})" in a
        ]
        con.executemany("INSERT INTO methods VALUES (?, ?, ?, ?)", methods)
        embed.embed_missing(con, embedder)
        projection.project_map(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


_BUILT: dict[str, Path] = {}


def shared_seeded_db(tmp_path_factory) -> Path:  # noqa: ANN001  (pytest's TempPathFactory)
    """One seeded database per test session (built on first use), copied read-only by callers."""
    if "db" not in _BUILT:
        _BUILT["db"] = build_seeded_db(tmp_path_factory.mktemp("seeded") / "litmine.duckdb")
    return _BUILT["db"]


def copy_db(src: Path, dst_dir: Path) -> Path:
    """A private copy of a database file (tests that publish or write get their own)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src.name
    shutil.copyfile(src, dst)
    return dst


# ---- browser helpers -------------------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_dashboard(db_path: Path, log_path: Path, timeout: float = 60) -> Iterator[str]:
    """Run ``streamlit run dashboard/app.py`` against ``db_path``; yield its loopback URL."""
    port = free_port()
    env = {**os.environ, "LITMINE_DB": str(db_path), "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable, "-m", "streamlit", "run", "dashboard/app.py",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log_path}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class DevTools:
    """The Chrome DevTools protocol over ``--remote-debugging-pipe`` (commands on fd 3, replies on 4)."""

    def __init__(self, write_fd: int, read_fd: int):
        self.w, self.r, self.n, self.buf = write_fd, read_fd, 0, b""

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.n += 1
        msg: dict = {"id": self.n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 60
        while True:
            while b"\0" not in self.buf:
                if not select.select([self.r], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    raise TimeoutError(f"no DevTools reply to {method}")
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.n:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})


def _pipe_child(cmd_r: int, res_w: int) -> None:
    os.dup2(cmd_r, 3)
    os.dup2(res_w, 4)


def capture(
    url: str, png: Path, ready_js: str, size: tuple[int, int] = (1400, 1800), timeout: float = 90
) -> str:
    """Open ``url`` in headless Chromium, wait until ``ready_js`` is true, save a PNG; return the DOM."""
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, res_w)]
    # chromium's helper processes may still write the profile for a moment after the kill
    with tempfile.TemporaryDirectory(
        prefix="litmine-chromium-", ignore_cleanup_errors=True
    ) as profile:
        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"]
        args += [f"--window-size={size[0]},{size[1]}", "about:blank"]
        proc = subprocess.Popen(
            args,
            pass_fds=(3, 4, *high),
            preexec_fn=lambda: _pipe_child(*high),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in (cmd_r, res_w, *high):
            os.close(fd)
        try:
            return _drive(DevTools(cmd_w, res_r), url, png, ready_js, timeout)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            os.close(cmd_w)
            os.close(res_r)


def _drive(cdp: DevTools, url: str, png: Path, ready_js: str, timeout: float) -> str:
    target = cdp.call("Target.createTarget", {"url": url})["targetId"]
    session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(expr: str):  # noqa: ANN202
        res = cdp.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
        return res.get("result", {}).get("value")

    deadline = time.monotonic() + timeout
    while not evaluate(ready_js):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page at {url} did not render in {timeout:.0f}s")
        time.sleep(0.5)
    time.sleep(1.5)  # let plotly finish its transitions
    data = cdp.call("Page.captureScreenshot", {"format": "png"}, session)["data"]
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(base64.b64decode(data))
    return evaluate("document.documentElement.outerHTML")


def plots_ready(n: int) -> str:
    """JavaScript that is true once ``n`` plotly charts are drawn and the script has finished."""
    return (
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n} && "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
    )
