"""Count the imports between the domains of `app/`, those inside functions included.

A domain is a first-level package of `app` (`app.accounts`, …, `app.core` included); with
`--modules`, the first-level modules too (`app.main`, `app.cli`, …), and `--without-core` leaves
`app.core` out. Prints the domain-to-domain pairs, the import statements behind them, the
two-way pairs and the strongly connected groups (cycles), so that the layering in
docs/architecture.md can be measured, not only asserted: `python scripts/import_graph.py [-v]`.
"""

from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
PACKAGES_ONLY = True


def domain_of(module: str) -> str | None:
    """The domain a dotted module name belongs to, or None outside `app` (and, with
    ``--packages``, outside the domain packages: `app.main`, `app.cli`, … left out)."""
    parts = module.split(".")
    if parts[0] != "app" or len(parts) < 2:
        return None
    if PACKAGES_ONLY and not (APP / parts[1]).is_dir():
        return None
    return parts[1]


def module_name(path: Path) -> str:
    """The dotted name of a source file under `app/`."""
    rel = path.relative_to(APP.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[str]:
    """Every module an import statement of the file names, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
    return found


def edges() -> dict[tuple[str, str], int]:
    """Import statements per (importer domain, imported domain) pair, self-imports left out."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for path in sorted(APP.rglob("*.py")):
        source = domain_of(module_name(path))
        for target_module in imported_modules(path):
            target = domain_of(target_module)
            if source and target and target != source:
                counts[(source, target)] += 1
    return counts


def cycles(pairs: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of two domains or more (Tarjan's algorithm)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted({n for pair in pairs for n in pair}):
        if node not in index:
            visit(node)
    return groups


def main() -> None:
    """Print the figures; with -v, every pair and its number of statements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="list every pair")
    parser.add_argument("--without-core", action="store_true", help="leave app.core out")
    parser.add_argument("--modules", action="store_true", help="count app/*.py modules too")
    parser.add_argument("--app", type=Path, help="the app/ folder to measure (default: this one)")
    args = parser.parse_args()
    global APP, PACKAGES_ONLY  # the script's settings, read by the helpers
    APP = args.app.resolve() if args.app else APP
    PACKAGES_ONLY = not args.modules
    counts = {pair: n for pair, n in edges().items() if not args.without_core or "core" not in pair}
    pairs = set(counts)
    two_way = sorted({tuple(sorted(p)) for p in pairs if (p[1], p[0]) in pairs})
    groups = cycles(pairs)
    print(f"domain pairs: {len(pairs)}")
    print(f"import statements: {sum(counts.values())}")
    print(f"two-way pairs: {len(two_way)} {' '.join(f'{a}<->{b}' for a, b in two_way)}")
    print(f"cycles: {len(groups)} {' | '.join(' '.join(g) for g in groups)}")
    if args.verbose:
        for (a, b), n in sorted(counts.items()):
            print(f"  {a} -> {b}: {n}")


if __name__ == "__main__":
    main()
