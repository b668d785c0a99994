"""The one atomic writer: whole files or none, one-line errors, nothing left behind."""

import pytest

from edge.errors import FerEdgeError, WriteError
from edge.files import AtomicFile, atomic_path, write_atomic


def test_a_file_appears_whole_under_its_name_and_no_temp_is_left(tmp_path):
    target = tmp_path / "report.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".json" and tmp.name.startswith(".")
        tmp.write_text("{}")
        assert not target.exists()  # not before the writer is done
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["report.json"]
    write_atomic(target, b"[]")  # replaces
    assert target.read_bytes() == b"[]"


def test_an_error_while_writing_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old")
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyError("the writer failed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.tflite"]


@pytest.mark.parametrize("where", ["no/such/folder/m.tflite", "afile/m.tflite"])
def test_a_target_that_cannot_be_written_is_one_line(tmp_path, where):
    (tmp_path / "afile").write_text("not a folder")
    target = tmp_path / where
    with pytest.raises(WriteError) as caught:
        write_atomic(target, b"x")
    message = str(caught.value)
    assert message.startswith(f"cannot write to {target}: ") and "Errno" not in message and ".tmp" not in message
    assert isinstance(caught.value, FerEdgeError) and isinstance(caught.value, OSError)


def test_a_long_lived_writer_commits_or_discards(tmp_path):
    kept, dropped = AtomicFile(tmp_path / "a.mp4"), AtomicFile(tmp_path / "b.mp4")
    kept.tmp.write_bytes(b"video")
    dropped.tmp.write_bytes(b"video")
    kept.commit()
    dropped.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
