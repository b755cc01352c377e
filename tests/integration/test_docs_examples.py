"""Every example in the docs runs against the session server and prints what its page says it prints.

The pages mark what runs, so nothing is copied into the tests and nothing can drift:

* a fenced block tagged ```` ```python example ```` is a script: it runs with the test's interpreter (the
  official SDK is installed there), `PYTHONPATH=examples` (for `examples/docs_client.py`) and a fresh
  working directory;
* ```` ```sh example ```` is a bash script (`set -euo pipefail`) with `.venv/bin` on PATH (tccli) and a HOME
  holding the `trigflow` tccli profile that README.md's own ```` ```sh example ```` configures;
* the next block tagged ```` ```text output ```` (before the next example) is what the example prints, line
  for line; `...` in it matches any text within a line (doctest's ELLIPSIS) and stands for IDs, dates and paths.

Examples get the session server through the variables the pages name: `TRIGFLOW_ENDPOINT`,
`TRIGFLOW_SECRET_ID`, `TRIGFLOW_SECRET_KEY` and `TRIGFLOW_PROJECT_ID`; in sh examples the README's default endpoint
`http://127.0.0.1:8090` is replaced by the server's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import SECRET_ID, SECRET_KEY, Server
from trigflow.domain.params import evaluate_time_expression

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/merge-conditions.md", "docs/parameters.md", "docs/task-types.md", "docs/triggers.md",
        "docs/cli.md", "docs/data-sources.md")
MUST_HAVE_EXAMPLES = DOCS[1:]  # every page about a wire shape a user writes (issue 12 point 4)
DEFAULT_ENDPOINT = "http://127.0.0.1:8090"
FENCE = re.compile(r"^```([^`\n]*)$")


@dataclass(frozen=True)
class Example:
    page: str
    line: int  # 1-based line of the opening fence, for messages
    lang: str  # python | sh
    code: str
    output: list[str] | None  # expected stdout lines, None when the page shows none

    @property
    def id(self) -> str:
        return f"{Path(self.page).stem}:{self.line}"


def blocks(text: str) -> list[tuple[int, list[str], str]]:
    """Fenced blocks of a Markdown text as (opening line, info words, body)."""
    found, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        found.append((start + 1, m.group(1).split(), "\n".join(body) + "\n"))
        i += 1
    return found


def examples(page: str) -> list[Example]:
    out: list[Example] = []
    pending: tuple[int, str, str] | None = None
    for line, info, body in blocks((ROOT / page).read_text(encoding="utf-8")):
        if info[1:2] == ["example"] and info[0] in ("python", "sh"):
            if pending:
                out.append(Example(page, pending[0], pending[1], pending[2], None))
            pending = (line, info[0], body)
        elif info[1:2] == ["output"] and pending:
            out.append(Example(page, pending[0], pending[1], pending[2], body.splitlines()))
            pending = None
    if pending:
        out.append(Example(page, pending[0], pending[1], pending[2], None))
    return out


ALL = [e for page in DOCS for e in examples(page)]


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual) is not None


def test_every_wire_shape_page_has_a_runnable_example_with_its_output() -> None:
    for page in MUST_HAVE_EXAMPLES:
        found = [e for e in ALL if e.page == page]
        assert found, f"{page} has no ```python example / ```sh example block"
        assert all(e.output is not None for e in found), f"{page}: an example shows no ```text output block"
    assert any(e.lang == "sh" and "tccli configure" in e.code for e in ALL if e.page == "README.md")


def test_time_expression_table_of_parameters_md_is_what_the_code_computes() -> None:
    """The table under `<!-- time-expressions: baseline <date> <time> <zone> ... -->` in docs/parameters.md."""
    text = (ROOT / "docs/parameters.md").read_text(encoding="utf-8")
    marker = re.search(r"<!-- time-expressions: baseline (\S+ \S+) (\S+) .*?-->\n(.*?)\n\n", text, re.S)
    assert marker, "docs/parameters.md lost its time-expression table marker"
    baseline = datetime.fromisoformat(marker.group(1)).replace(tzinfo=ZoneInfo(marker.group(2)))
    rows = re.findall(r"^\| `\$\{([^`]*)\}` \| `([^`]*)` \|$", marker.group(3), re.M)
    assert len(rows) >= 10
    for expr, shown in rows:
        assert evaluate_time_expression(expr, baseline) == shown, f"${{{expr}}} at {baseline}"


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_of_every_page_resolve_to_files_and_headings() -> None:
    pages = ["README.md", *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md")))]
    for page in pages:
        text = (ROOT / page).read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([\w./-]+\.md)?(?:#([\w-]+))?\)", text):
            path = (ROOT / page).parent / target if target else ROOT / page
            assert path.exists(), f"{page} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
                assert anchor in {slug(h) for h in headings}, f"{page}: no heading #{anchor} in {target or page}"


def test_ellipsis_matches_within_a_line_only() -> None:
    assert matches("run ... done", "run 3 tasks done") and matches("a...", "a") and not matches("a", "ab")
    assert not matches("x ... y", "x 1\n2 y") and matches("(1) [x]", "(1) [x]")


@pytest.fixture(scope="module")
def tccli_home(tmp_path_factory: pytest.TempPathFactory, server: Server) -> Path:
    """A HOME whose `trigflow` tccli profile points at the session server, made by the README's snippet."""
    home = tmp_path_factory.mktemp("docs-tccli-home")
    (readme_setup,) = [e for e in ALL if e.page == "README.md" and "tccli configure" in e.code]
    proc = run_example(readme_setup, server, home, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return home


def run_example(
    example: Example, server: Server, home: Path, cwd: Path, project_id: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT / "examples"),
        "TRIGFLOW_ENDPOINT": f"http://{server.endpoint}",
        "TRIGFLOW_SECRET_ID": SECRET_ID,
        "TRIGFLOW_SECRET_KEY": SECRET_KEY,
        "TRIGFLOW_PROJECT_ID": project_id,  # the session's project (examples fall back to the first one)
    }
    if "TMPDIR" in os.environ:  # the server's default FILE_ARRIVAL root is its temp dir: use the same one
        env["TMPDIR"] = os.environ["TMPDIR"]
    if example.lang == "python":
        args = [sys.executable, "-"]
        script = example.code
    else:
        args = ["bash", "-euo", "pipefail", "-s"]
        script = example.code.replace(DEFAULT_ENDPOINT, f"http://{server.endpoint}")
    return subprocess.run(
        args, input=script, capture_output=True, text=True, env=env, cwd=cwd, timeout=240, check=False
    )


def test_docs_client_falls_back_to_the_client_json_trigflow_up_writes(server: Server, tmp_path: Path) -> None:
    """Without key variables the examples use `<data dir>/client.json` (its format: trigflow.client.credfile)."""
    from trigflow.client.credfile import write_credentials

    write_credentials(tmp_path / "client.json", endpoint=f"http://{server.endpoint}", secret_id=SECRET_ID,
                      secret_key=SECRET_KEY, project_id="")  # fmt: skip
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "PYTHONPATH": str(ROOT / "examples"), "TRIGFLOW_DATA_DIR": str(tmp_path)}  # fmt: skip
    code = "import docs_client; print(docs_client.ENDPOINT, bool(docs_client.PROJECT_ID))"
    args = [sys.executable, "-c", code]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"http://{server.endpoint}", "True"]


@pytest.mark.parametrize("example", ALL, ids=[e.id for e in ALL])
def test_docs_example_runs_and_prints_what_its_page_says(
    example: Example, server: Server, tccli_home: Path, tmp_path: Path, project_id: str
) -> None:
    proc = run_example(example, server, tccli_home, tmp_path, project_id)
    where = f"{example.page} line {example.line}"
    assert proc.returncode == 0, f"{where} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    if example.output is None:
        return
    actual = proc.stdout.splitlines()
    ok = len(actual) == len(example.output) and all(map(matches, example.output, actual))
    shown = "\n".join(actual)
    assert ok, f"{where} printed:\n{shown}\n--- but the page says:\n" + "\n".join(example.output) + f"\n{proc.stderr}"
