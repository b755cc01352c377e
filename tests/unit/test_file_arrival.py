"""FILE_ARRIVAL bounds (service/file_arrival.py): the allowed-roots check, bounded scans, the scanner thread."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.schedule import FileArrivalSpec
from trigflow.service.file_arrival import FileScanner, ScanLimits, ScanTooLarge, check_watched_path, scan, scan_once

FIELD = "TriggerWorkflowSchedulerConfigurations.0.FileArrivalPath"


def spec(path: str, recursive: bool = True, pattern: str | None = None) -> FileArrivalSpec:
    return FileArrivalSpec(path=path, name_pattern=pattern, recursive=recursive, min_interval_s=60, wait_s=60)


def test_paths_under_a_root_are_accepted_resolved(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    root = str(tmp_path)
    assert check_watched_path(str(tmp_path / "in"), [root], FIELD) == os.path.realpath(tmp_path / "in")
    assert check_watched_path(f"file://{tmp_path}/in", [root], FIELD) == os.path.realpath(tmp_path / "in")
    assert check_watched_path(str(tmp_path / "not" / "yet"), [root], FIELD)  # may be created later
    assert check_watched_path(root, [root], FIELD) == os.path.realpath(root)


@pytest.mark.parametrize("path", ["/", "file:///", "/proc", "/proc/1", "/sys", "/dev/shm", "/etc", "relative"])
def test_paths_outside_or_forbidden_are_refused_naming_the_field(tmp_path: Path, path: str) -> None:
    with pytest.raises(InvalidParameterValue) as e:
        check_watched_path(path, [str(tmp_path)], FIELD)
    assert FIELD in e.value.message


def test_forbidden_roots_stay_forbidden_even_when_the_operator_allows_slash() -> None:
    assert check_watched_path("/tmp", ["/"], FIELD)
    for path in ("/proc", "/sys/kernel", "/dev"):
        with pytest.raises(InvalidParameterValue, match="never watched"):
            check_watched_path(path, ["/"], FIELD)


def test_a_symlink_cannot_lead_out_of_the_root_or_into_proc(tmp_path: Path) -> None:
    (tmp_path / "to_proc").symlink_to("/proc")
    (tmp_path / "to_etc").symlink_to("/etc")
    for link in ("to_proc", "to_etc"):
        with pytest.raises(InvalidParameterValue):
            check_watched_path(str(tmp_path / link), [str(tmp_path)], FIELD)
    with pytest.raises(InvalidParameterValue):
        check_watched_path(str(tmp_path / ".." / "elsewhere"), [str(tmp_path / "x")], FIELD)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(["a", "b", "..", ".", "c d", "ü"]), min_size=0, max_size=6))
def test_accepted_exactly_when_the_resolved_path_lies_under_the_root(tmp_path: Path, parts: list[str]) -> None:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    path = os.path.join(str(root), *parts)
    resolved = os.path.realpath(path)
    inside = resolved == os.path.realpath(root) or resolved.startswith(os.path.realpath(root) + "/")
    try:
        check_watched_path(path, [str(root)], FIELD)
        accepted = True
    except InvalidParameterValue:
        accepted = False
    assert accepted == inside


def test_scan_finds_matching_files_and_stops_at_the_entry_bound(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.csv", "b.txt", "sub/c.csv"):
        (tmp_path / name).write_text("x")
    found = [p for p, _, _ in scan(spec(str(tmp_path), pattern="*.csv"))]
    assert found == sorted([str(tmp_path / "a.csv"), str(tmp_path / "sub" / "c.csv")])
    assert [p for p, _, _ in scan(spec(str(tmp_path), recursive=False, pattern="*.csv"))] == [str(tmp_path / "a.csv")]
    with pytest.raises(ScanTooLarge, match="more than 3 entries"):
        scan(spec(str(tmp_path)), ScanLimits(max_entries=3))
    result = scan_once(spec(str(tmp_path)), ScanLimits(max_entries=3))
    assert result.files == [] and result.error is not None and result.error.startswith("FileArrivalScanLimit")


def test_scan_stops_at_the_depth_bound(tmp_path: Path) -> None:
    deep = tmp_path / "1" / "2" / "3"
    deep.mkdir(parents=True)
    assert scan(spec(str(tmp_path)), ScanLimits(max_depth=3)) == []
    with pytest.raises(ScanTooLarge, match="more than 2 levels"):
        scan(spec(str(tmp_path)), ScanLimits(max_depth=2))


def test_scanning_slash_is_bounded_and_never_enters_proc() -> None:
    with pytest.raises(ScanTooLarge):
        scan(spec("/"), ScanLimits(max_entries=50))
    with pytest.raises(ScanTooLarge, match="never watched"):
        scan(spec("/proc/self"))


def test_a_watched_symlink_swapped_to_proc_after_the_save_is_not_scanned(tmp_path: Path) -> None:
    link = tmp_path / "inbox"
    link.symlink_to("/proc")
    assert scan_once(spec(str(link)), ScanLimits()).error is not None


def test_the_scanner_scans_on_its_own_thread_and_hands_over_results(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x")
    seen_on: list[str] = []
    done = threading.Event()

    def on_results() -> None:
        seen_on.append(threading.current_thread().name)
        done.set()

    scanner = FileScanner(0.05, ScanLimits(), on_results)
    try:
        watched = spec(str(tmp_path))
        scanner.watch({"t1": watched})
        assert done.wait(5)
        results = scanner.take()
        assert results["t1"].spec == watched and [p for p, _, _ in results["t1"].files] == [str(tmp_path / "a.csv")]
        assert seen_on[0] == "trigflow-file-scanner" != threading.current_thread().name
        scanner.watch({})
        scanner.take()
        assert scanner.scan_round() is False
    finally:
        scanner.stop()
