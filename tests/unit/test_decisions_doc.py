"""docs/decisions.md explains every decision code the repository cites (issue 9 point 12, REVIEW §9.7).

Comments cite codes such as `Q-R1` (behaviour defaults) and `Q6` (api-notes open questions) from research notes
that live outside the repository. The page is their in-repository copy; these tests keep it in step with the
citations in src/, tests/, docs/ and README.md, both ways: a cited code without an entry fails, and so does an
entry nobody cites unless it is marked `*Uncited*` on purpose (and that mark goes once something cites it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "decisions.md"
THIS = Path(__file__).resolve()

CODE = re.compile(r"Q-[A-Z]+[0-9]+|\bQ[0-9]+\b")
# `Q-P1..Q-P3`, `Q-M1–Q-M3` and `Q1..Q3` cite every code in between.
RANGE = re.compile(r"\b(Q-[A-Z]+|Q)([0-9]+)\s*(?:\.\.|–)\s*\1([0-9]+)\b")
HEADING = re.compile(r"^###\s+(\S+)\s*$", re.MULTILINE)
SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
UNCITED = re.compile(r"^\*Uncited\*", re.MULTILINE)
API_NOTES_SECTION = "API notes"


def _sources() -> Iterator[Path]:
    yield ROOT / "README.md"
    for base, pattern in (("src", "*.py"), ("tests", "*.py"), ("docs", "*.md")):
        for path in sorted((ROOT / base).rglob(pattern)):
            if path.resolve() not in (PAGE, THIS):
                yield path


def codes_in(text: str) -> set[str]:
    """The codes a text cites, ranges expanded."""
    found = set(CODE.findall(text))
    for prefix, low, high in RANGE.findall(text):
        found |= {f"{prefix}{n}" for n in range(int(low), int(high) + 1)}
    return found


def cited() -> dict[str, list[str]]:
    """code -> the files citing it (relative paths)."""
    where: dict[str, list[str]] = {}
    for path in _sources():
        for code in codes_in(path.read_text(encoding="utf-8")):
            where.setdefault(code, []).append(str(path.relative_to(ROOT)))
    return where


def entries() -> dict[str, tuple[str, str]]:
    """code -> (its `##` section title, its body up to the next heading)."""
    text = PAGE.read_text(encoding="utf-8")
    marks = sorted([(m.start(), "section", m.group(1)) for m in SECTION.finditer(text)]
                   + [(m.start(), "entry", m.group(1)) for m in HEADING.finditer(text)])  # fmt: skip
    out: dict[str, tuple[str, str]] = {}
    section = ""
    for i, (start, kind, title) in enumerate(marks):
        if kind == "section":
            section = title
            continue
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        assert title not in out, f"docs/decisions.md has two entries for {title}"
        out[title] = (section, text[start:end])
    return out


def test_the_range_syntax_expands() -> None:
    assert codes_in("decisions.md Q-P1..Q-P3, Q-M1–Q-M3") == {"Q-P1", "Q-P2", "Q-P3", "Q-M1", "Q-M2", "Q-M3"}
    assert codes_in("api-notes Q5 and Q12") == {"Q5", "Q12"}


def test_every_cited_code_has_an_entry() -> None:
    missing = {code: files for code, files in cited().items() if code not in entries()}
    assert not missing, (
        "codes cited without an entry in docs/decisions.md (add one: question, choice, why, where): "
        + "; ".join(f"{code} in {', '.join(files)}" for code, files in sorted(missing.items()))
    )


def test_every_entry_is_cited_or_marked_uncited() -> None:
    where = cited()
    stale = sorted(code for code, (_, body) in entries().items() if code not in where and not UNCITED.search(body))
    assert not stale, f"entries of docs/decisions.md that nothing cites (remove them, or mark them *Uncited*): {stale}"
    marked = sorted(code for code, (_, body) in entries().items() if code in where and UNCITED.search(body))
    assert not marked, f"entries marked *Uncited* that are cited now (drop the mark): {marked}"


def test_entries_are_codes_in_their_own_section() -> None:
    for code, (section, body) in entries().items():
        assert CODE.fullmatch(code), f"docs/decisions.md: heading {code!r} is not a decision code"
        api_note = not code.startswith("Q-")
        assert section.startswith(API_NOTES_SECTION) == api_note, (
            f"{code} is under '## {section}': api-notes codes (Q<n>) go under '## {API_NOTES_SECTION}', "
            "decisions codes (Q-<area><n>) elsewhere"
        )
        assert "**Where:**" in body, f"docs/decisions.md {code}: say where the code implements it (**Where:**)"


def _slugs(path: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    headings = re.findall(r"^#+\s+(.+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_links_of_the_page_resolve_to_files_and_headings() -> None:
    text = PAGE.read_text(encoding="utf-8")
    broken = []
    for target, anchor in re.findall(r"\]\(([\w./-]+\.md)?(?:#([^)]+))?\)", text):
        path = PAGE.parent / target if target else PAGE
        if not path.exists() or (anchor and anchor not in _slugs(path)):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"docs/decisions.md links to missing files or headings: {broken}"
