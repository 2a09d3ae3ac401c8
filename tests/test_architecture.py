"""The shape of the house (docs/architecture.md): imports go one way, down the floors, with no
cycle; the dashboard only reads; no module grows past the size one can hold in mind."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "litmine"
MAX_LINES = 420
# Bottom floor first, as in docs/architecture.md. A module may import modules of its own floor
# (without a cycle) or of the floors below, never of a floor above. A package's submodules
# (``litmine.queries.*``) share the package's floor.
FLOORS = (
    ("errors",),
    ("config", "taxonomy", "labelspace"),
    ("schema", "store", "crawl", "text"),
    (
        "ingest",
        "labels",
        "agreement",
        "embed",
        "onnx_embed",
        "features",
        "projection",
        "publish",
        "export",
        "calibration",
        "finetune",
    ),
    ("status", "queries"),
    ("model", "tuned", "classify", "gate"),
    ("baselines", "evaluate", "report"),
    ("training", "tuning"),
    ("stages", "nightly"),
    ("cli_args", "cli"),
)
# No upward import is tolerated.
UPWARD_TOLERATED: set[tuple[str, str]] = set()
# What the dashboard may import from litmine: the query layer and the read-only helpers beside it
# (labels and taxonomy names, the export query, settings and errors, the query embedder).
DASHBOARD_MAY_IMPORT = (
    "litmine.queries",
    "litmine.taxonomy",
    "litmine.labels",
    "litmine.export",
    "litmine.config",
    "litmine.errors",
    "litmine.embed",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """The litmine modules ``path`` imports anywhere (lazy imports inside functions included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            assert not isinstance(node, ast.ImportFrom), f"{path}: use absolute imports"
            continue
        for name in names:
            while name and name not in known:  # an imported name: its module
                name = name.rpartition(".")[0]
            if name.startswith("litmine."):
                out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    mods = package_modules()
    return {m: imported(p, set(mods)) - {m} for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path that ends where it starts, or [] if there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n) :] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        state[m] = 2
        path.pop()
        return []

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return []


def floor(module: str) -> int | None:
    parts = module.split(".")
    for name in (".".join(parts[1:i]) for i in range(len(parts), 1, -1)):
        for i, modules in enumerate(FLOORS):
            if name in modules:
                return i
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_every_module_has_a_floor_and_imports_only_down():
    graph = import_graph()
    unplaced = sorted(m for m in graph if m != "litmine" and floor(m) is None)
    assert not unplaced, f"place {unplaced} on a floor in docs/architecture.md and FLOORS here"
    upward = sorted(
        f"{a} -> {b}"
        for a, deps in graph.items()
        if a != "litmine"
        for b in deps
        if floor(b) > floor(a) and (a, b) not in UPWARD_TOLERATED
    )
    assert not upward, f"imports from a higher floor: {upward}"


def test_the_dashboard_only_reads():
    known = set(package_modules())
    pages = sorted((REPO / "dashboard").rglob("*.py"))
    assert pages
    wrong = sorted(
        f"{p.relative_to(REPO)} imports {m}"
        for p in pages
        for m in imported(p, known)
        if not m.startswith(DASHBOARD_MAY_IMPORT)
    )
    assert not wrong, wrong


def test_no_module_is_too_long():
    long = {
        str(p.relative_to(REPO)): n
        for p in package_modules().values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split by responsibility (at most {MAX_LINES} lines): {long}"
