"""Engine benchmark, paired: this tree against an earlier commit, in one run, as ratios.

`engine_bench.py` run twice (once per commit) on these shared machines differs by more than any change
it is meant to catch (2026-12-03: the same commit measured 0.171 s and 0.239 s minutes apart). This
script starts one `trigflow up` per tree side by side (each on its own SQLite data dir, each from its own
source via PYTHONPATH), builds the same 50-task chain and 200 independent tasks of `true` on both, and
alternates them run by run, swapping which goes first every round, so both see the same load. It
prints the median of the per-round ratios (this tree / base): below 1.00 is faster.

    python bench/engine_compare.py --base 3982f9c [--rounds 9] [--chain 50] [--wide 200]

The base commit is checked out into a temporary `git worktree` and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine_bench import build, run_once  # noqa: E402
from tests.conftest import SECRET_ID, SECRET_KEY, free_port, make_client, wait_for  # noqa: E402
from tests.integration.helpers import call  # noqa: E402


def _descendant(pid: int, depth: int) -> int:
    """The first child `depth` levels below `pid` (the server under its launcher and keeper), or `pid`."""
    for _ in range(depth):
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return pid
        if not children:
            return pid
        pid = int(children[0])
    return pid


class Tree:
    """One server started from one source tree."""

    def __init__(self, label: str, src: Path, data_dir: Path) -> None:
        self.label = label
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(src), "TRIGFLOW_SECRET_ID": SECRET_ID, "TRIGFLOW_SECRET_KEY": SECRET_KEY}
        args = [sys.executable, "-m", "trigflow.cli", "up", "--port", str(self.port), "--data-dir", str(data_dir),
                "--rate-limit", "100000", "--log-level", "warning"]  # fmt: skip
        data_dir.mkdir(parents=True)
        self.out = data_dir / "server.out"
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=data_dir)
        wait_for(self._healthy, timeout=60, interval=0.05, what=f"{label} /healthz")
        self.client = make_client(f"127.0.0.1:{self.port}")
        self.project_id = str(call(self.client, "ListProjects", {}).Items[0].ProjectId)

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.label} exited early:\n{self.out.read_text(errors='replace')}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
            return bool(r.status == 200)

    def cpu_ns(self) -> int:
        """CPU time the server process has used so far, all its live threads (schedstat, ns): less sensitive
        to the machine's other load than wall time, which is what these shared machines make noisy."""
        if not hasattr(self, "_server_pid"):
            self._server_pid = _descendant(self.proc.pid, depth=2)  # launcher -> keeper -> server (ADR 0005)
        total = 0
        for task in Path(f"/proc/{self._server_pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the commit to compare against (any git revision)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--chain", type=int, default=50)
    ap.add_argument("--wide", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base_tree), args.base],
                       check=True)  # fmt: skip
        trees: list[Tree] = []
        try:
            trees = [Tree("this tree", ROOT / "src", Path(tmp) / "head")]
            trees.append(Tree(args.base, base_tree / "src", Path(tmp) / "b"))
            workloads = {}
            for t in trees:
                workloads[t.label] = (
                    build(t.client, t.project_id, "cmp_chain", args.chain, chain=True),
                    build(t.client, t.project_id, "cmp_wide", args.wide, chain=False),
                )
                for wf in workloads[t.label]:
                    run_once(t.client, t.project_id, wf)  # warm-up
            ratios: dict[str, list[float]] = {"chain": [], "wide": []}
            cpu_ratios: dict[str, list[float]] = {"chain": [], "wide": []}
            walls: dict[tuple[str, str], list[float]] = {}
            for r in range(args.rounds):
                order = trees if r % 2 == 0 else trees[::-1]
                for i, kind in enumerate(("chain", "wide")):
                    got, cpu = {}, {}
                    for t in order:
                        before = t.cpu_ns()
                        got[t.label] = run_once(t.client, t.project_id, workloads[t.label][i])
                        cpu[t.label] = t.cpu_ns() - before
                        walls.setdefault((kind, t.label), []).append(got[t.label])
                    ratios[kind].append(got["this tree"] / got[args.base])
                    cpu_ratios[kind].append(cpu["this tree"] / max(cpu[args.base], 1))
        finally:
            for t in trees:
                t.stop()
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    print(f"{'workload':<16} {'this tree s':>12} {args.base + ' s':>14} {'ratio (median of pairs)':>24}")
    for i, kind in enumerate(("chain", "wide")):
        n = args.chain if kind == "chain" else args.wide
        mine, theirs = statistics.median(walls[(kind, "this tree")]), statistics.median(walls[(kind, args.base)])
        label = f"chain of {n}" if i == 0 else f"{n} independent"
        print(f"{label:<16} {mine:12.3f} {theirs:14.3f} {statistics.median(ratios[kind]):24.3f}")
    for kind in ("chain", "wide"):
        q = statistics.quantiles(ratios[kind], n=4) if len(ratios[kind]) > 1 else ratios[kind] * 3
        print(f"  {kind}: per-round ratios quartiles {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}, "
              f"min {min(ratios[kind]):.3f}, max {max(ratios[kind]):.3f}")
        print(f"  {kind}: server CPU time ratio (median of pairs) {statistics.median(cpu_ratios[kind]):.3f}")
    print(f"({args.rounds} rounds, order swapped every round; ratio < 1 means this tree is faster)")


if __name__ == "__main__":
    main()
