"""Static DAG checks on task definitions (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(upstream: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a list of task ids (first == last), or None. Edges to unknown ids are ignored.

    Iterative depth-first search: a chain of thousands of tasks must not hit the recursion limit.
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(upstream, white)
    for root in upstream:
        if color[root] != white:
            continue
        path: list[str] = [root]
        iters = [iter(upstream.get(root, ()))]
        color[root] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                color[path.pop()] = black
                iters.pop()
                continue
            if nxt not in color:
                continue
            if color[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            if color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                iters.append(iter(upstream.get(nxt, ())))
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
