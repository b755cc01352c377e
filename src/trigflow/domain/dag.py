"""Static DAG checks on task definitions (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(upstream: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a list of task ids (first == last), or None. Edges to unknown ids are ignored."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(upstream, white)
    stack_path: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack_path.append(node)
        for up in upstream.get(node, ()):
            if up not in color:
                continue
            if color[up] == grey:
                return [*stack_path[stack_path.index(up) :], up]
            if color[up] == white:
                found = visit(up)
                if found:
                    return found
        stack_path.pop()
        color[node] = black
        return None

    for n in list(upstream):
        if color[n] == white:
            found = visit(n)
            if found:
                return found
    return None


def topological_order(upstream: Mapping[str, Sequence[str]]) -> list[str]:
    """Task ids with every upstream before its downstream; ties broken by id for a stable order."""
    indeg = {n: sum(1 for u in ups if u in upstream) for n, ups in upstream.items()}
    down: dict[str, list[str]] = {n: [] for n in upstream}
    for n, ups in upstream.items():
        for u in ups:
            if u in down:
                down[u].append(n)
    import heapq

    ready = [n for n, d in indeg.items() if d == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        n = heapq.heappop(ready)
        out.append(n)
        for m in down[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(ready, m)
    return out + sorted(set(upstream) - set(out))
