"""Reading a run back: JSONL records as FrameResults, a killed run's last line, bad files."""

import json

import pytest

from edge.cli import main as edge_main
from edge.run_file import RunFile, RunFileError
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def run_jsonl(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run.jsonl"
    assert edge_main(["--source", str(SAMPLES / "demo.mp4"), "--headless", "--quiet", "--max-frames", "30",
                      "--jsonl", str(out)]) == 0
    return out


def test_a_run_reads_back_as_the_records_it_wrote(run_jsonl):
    run = RunFile(run_jsonl)
    results = run.read()
    lines = [json.loads(line) for line in run_jsonl.read_text().splitlines()]
    assert [r.to_dict() for r in results] == lines  # every field, round trip
    assert run.frames == 30 and not run.truncated
    assert results[0].faces[0].label in results[0].faces[0].probabilities


def test_a_killed_runs_cut_off_last_line_is_skipped_and_said(run_jsonl, tmp_path):
    text = run_jsonl.read_text()
    killed = tmp_path / "killed.jsonl"
    killed.write_text(text[: len(text) - 40])  # the last record loses its end and newline
    run = RunFile(killed)
    assert len(run.read()) == 29 and run.truncated


@pytest.mark.parametrize("content, message", [
    ("", "no frame records"),
    ("\n\n", "no frame records"),
    ('{"schema": 1, "frame": 0', "no frame records (only a cut-off line: the run was killed)"),
    ("hello world\n", ":1: not a JSON line"),
    ('{"frame": 0}\n', ':1: not a fer-edge frame record (no "schema" field)'),
    ('[1, 2]\n', ":1: not a fer-edge frame record"),
    ('{"schema": 7, "frame": 0}\n', ":1: not a fer-edge frame record (JSONL schema 7, this reader knows 1)"),
    ('{"schema": 1, "frame": 0}\n', ":1: not a fer-edge frame record (missing field 'time')"),
])
def test_bad_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(RunFileError) as caught:
        RunFile(path).read()
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_a_bad_line_in_the_middle_is_an_error_not_a_skip(run_jsonl, tmp_path):
    lines = run_jsonl.read_text().splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(lines[:5]) + "{oops\n" + "".join(lines[5:]))
    with pytest.raises(RunFileError, match=":6: not a JSON line"):
        RunFile(broken).read()


@pytest.mark.parametrize("where", ["missing.jsonl", "."])
def test_a_path_that_is_not_a_file(tmp_path, where):
    with pytest.raises(RunFileError, match="not a fer-edge --jsonl run"):
        RunFile(tmp_path / where)
