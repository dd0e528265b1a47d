from __future__ import annotations

from pathlib import Path

import pytest

from adeline_infra.files import tail_lines


def test_tail_reads_the_end_of_a_file(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(10_000)) + b"last, no newline")
    assert tail_lines(log, 2, block=16) == ["line 9999", "last, no newline"]
    assert tail_lines(log, 0) == []
    assert len(tail_lines(log, 20_000, block=4096)) == 10_001
    assert tail_lines(tmp_path / "missing", 5) == []
    (tmp_path / "bad").write_bytes(b"\xff\xfe ok\n")
    assert tail_lines(tmp_path / "bad", 1) == ["\ufffd\ufffd ok"]


class HeldOpen:
    """os.replace as Windows answers it while another process has the target open."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0

    def __call__(self, src: Path, dst: Path) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise PermissionError(13, "Access is denied")
        src.replace(dst)


def test_replacing_a_file_held_open_is_retried_on_windows(tmp_path: Path) -> None:
    from adeline_infra import files

    src, dst = tmp_path / "new", tmp_path / "broker.json"
    src.write_text("new")
    dst.write_text("old")
    held = HeldOpen(refusals=2)
    files.replace(src, dst, windows=True, rename=held, retry_for=30)
    assert held.calls == 3 and dst.read_text() == "new"


def test_a_refused_replace_is_an_error_at_once_on_posix_and_after_the_retry_on_windows(
    tmp_path: Path,
) -> None:
    from adeline_infra import files

    src, dst = tmp_path / "new", tmp_path / "broker.json"
    src.write_text("new")
    posix = HeldOpen(refusals=1)
    with pytest.raises(PermissionError):
        files.replace(src, dst, windows=False, rename=posix, retry_for=30)
    assert posix.calls == 1
    windows = HeldOpen(refusals=10**6)
    with pytest.raises(PermissionError):
        files.replace(src, dst, windows=True, rename=windows, retry_for=0)
    assert windows.calls == 1
