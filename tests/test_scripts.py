"""The set-up scripts a newcomer runs first (scripts/system-deps.sh, sourced by test.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASIC_TOOLS = ["bash", "awk", "ls", "id", "head", "env"]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder that the user nobody can read (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="maestro-scripts-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _bare_path(open_dir: Path, extra: dict[str, str] | None = None) -> Path:
    """A PATH folder with only the shell basics (no java, redis-server, chromium, sudo),
    plus fake commands given as name → script body."""
    bin_dir = open_dir / "bin"
    bin_dir.mkdir()
    for tool in BASIC_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    for name, body in (extra or {}).items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return bin_dir


def _source_system_deps(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    """Source the script as a user who is not root and has no sudo (nobody, when we are root)."""
    command = [
        str(bin_dir / "bash"),
        "-c",
        f"set -eu; source {ROOT / 'scripts/system-deps.sh'}; echo JAVA_HOME=${{JAVA_HOME:-}}",
    ]
    if os.geteuid() == 0:
        command = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "nobody", "--", *command]
    return subprocess.run(
        command,
        env={"PATH": str(bin_dir), "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_without_root_it_names_what_to_install_in_one_sentence(open_dir: Path) -> None:
    result = _source_system_deps(_bare_path(open_dir))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one sentence, no raw apt error
    assert "redis-server" in lines[0] and "chromium" in lines[0]
    assert "install them as root" in lines[0]
    assert "apt-get: " not in result.stderr and "Permission denied" not in result.stderr


def test_an_old_java_is_not_enough(open_dir: Path) -> None:
    """pyspark 4 needs Java 17+: a Java 11 on PATH counts as missing (or, when a 17+ JDK is
    installed beside it, that one is put first through JAVA_HOME)."""
    java11 = "echo 'openjdk version \"11.0.21\" 2023-10-17' >&2"
    redis = "exit 0"
    bin_dir = _bare_path(open_dir, {"java": java11, "redis-server": redis, "chromium": redis})
    result = _source_system_deps(bin_dir)
    installed_jdks = list(Path("/usr/lib/jvm").glob("java-*-openjdk-*"))
    newer = [j for j in installed_jdks if j.name.split("-")[1] in {"17", "21", "25"}]
    if newer:
        assert result.returncode == 0, result.stderr
        assert "JAVA_HOME=/usr/lib/jvm/java-" in result.stdout
    else:
        assert result.returncode == 1
        assert "openjdk-17-jre-headless" in result.stderr


def test_a_current_java_is_accepted(open_dir: Path) -> None:
    java17 = "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2"
    ok = "exit 0"
    bin_dir = _bare_path(open_dir, {"java": java17, "redis-server": ok, "chromium": ok})
    result = _source_system_deps(bin_dir)
    if Path("/usr/lib/postgresql").exists():
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "JAVA_HOME="
    else:
        assert "postgresql" in result.stderr and "openjdk" not in result.stderr
