"""paths: resolution, the app's confinement of read and write paths, and cleanup of killed runs' leftovers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rwkv_simple_gui import paths


@pytest.fixture
def confined(project, tmp_path):
    outside, allowed = tmp_path / "outside", tmp_path / "allowed"
    outside.mkdir()
    allowed.mkdir()
    (project / "data" / "out").symlink_to(outside, target_is_directory=True)
    paths.confine(allow_read=[allowed])
    yield project, outside, allowed
    paths.unconfine()


def test_writes_are_checked_on_the_resolved_path(confined):
    project, outside, allowed = confined
    assert paths.writable("data/new/x.jsonl") == project / "data" / "new" / "x.jsonl"
    assert paths.writable("x.jsonl", "data") == project / "data" / "x.jsonl"  # a bare name goes into base
    assert paths.writable("presets/p.json") == project / "presets" / "p.json"
    for bad in (str(outside / "x"), "../outside/x", "data/../../outside/x", "data/out/x", "app.py",
                str(allowed / "x"), "~/x"):
        with pytest.raises(paths.PathRefused, match="may write to: data/, model/, output/, merge/, presets/"):
            paths.writable(bad)
    with pytest.raises(paths.PathRefused, match=r"data/out/x \(it leads to .*outside/x\)"):
        paths.writable("data/out/x")


def test_reads_come_from_the_project_folders_and_allowed_ones(confined):
    project, outside, allowed = confined
    (allowed / "m.pth").write_bytes(b"x")
    assert paths.readable(allowed / "m.pth") == allowed / "m.pth"
    assert paths.readable("sample.jsonl", "data") == project / "data" / "sample.jsonl"
    with pytest.raises(paths.PathRefused, match=f"may read: .* {allowed}\\. .*--allow-path"):
        paths.readable("data/out/secret")
    with pytest.raises(paths.PathRefused):
        paths.readable("/etc/passwd")
    with pytest.raises(paths.PathRefused, match="not a folder"):
        paths.confine(allow_read=[allowed / "m.pth"])


def test_unconfined_any_path_and_overwrite_is_explicit(project, tmp_path):
    assert not paths.confined()
    assert paths.writable(tmp_path / "anywhere.txt") == tmp_path / "anywhere.txt"
    assert paths.readable("/etc/passwd") == paths.resolve("/etc/passwd").resolve()
    with pytest.raises(paths.PathExists, match="data/sample.jsonl already exists"):
        paths.writable("data/sample.jsonl", overwrite=False)
    assert paths.file_problem(project / "data") == "is a folder, not a file"
    assert paths.file_problem(project / "nope") == "does not exist"
    assert paths.file_problem(project / "data" / "sample.jsonl") is None


def test_atomic_output_names_its_owner_and_only_dead_owners_lose_their_leftovers(project):
    with paths.atomic_output(project / "data" / "x.txt") as tmp:
        assert tmp.name.startswith(f".x.txt.{paths.owner_tag()}-") and tmp.name.endswith(".tmp")
        assert paths.remove_leftovers() == []  # this process is alive
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = paths.owner_tag(int(dead.stdout))
    leftovers = [project / "output" / "run" / f".rwkv-1.pth.{owner}-ab_c1234.tmp",
                 project / "data" / f".tokenize-{owner}-zz99zz99"]
    leftovers[0].parent.mkdir(parents=True)
    leftovers[0].write_bytes(b"half")
    leftovers[1].mkdir()
    (leftovers[1] / "part-0.u16").write_bytes(b"\0\0")
    other_host = owner.replace(owner.split(".")[0], "otherbox", 1)  # a disk shared with another machine
    lookalikes = [project / "data" / f".a.{owner}.tmp", project / "data" / f"a.{owner}-ab_c1234.tmp",
                  project / "data" / f".tokenize-{owner}", project / "output" / f".b.{other_host}-ab_c1234.tmp"]
    for p in lookalikes:
        p.write_bytes(b"mine")
    assert sorted(paths.remove_leftovers()) == sorted(leftovers)
    assert all(p.exists() for p in lookalikes) and not any(p.exists() for p in leftovers)
