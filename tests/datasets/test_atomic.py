import pytest

from datasets.atomic import atomic_output, partial_path


def test_success_moves_the_file_into_place(tmp_path):
    out = tmp_path / "a.txt"
    with atomic_output(out) as tmp:
        assert tmp == partial_path(out) and not out.exists()
        tmp.write_text("done")
    assert out.read_text() == "done" and not tmp.exists()


@pytest.mark.parametrize("keep_partial", [False, True])
def test_failing_body_keeps_partial_only_when_asked(tmp_path, keep_partial):
    out = tmp_path / "a.txt"
    with pytest.raises(RuntimeError), atomic_output(out, keep_partial=keep_partial) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not out.exists() and tmp.exists() == keep_partial


def test_a_folder_as_output_is_refused_before_the_work(tmp_path):
    out = tmp_path / "taken"
    (out / "inside").mkdir(parents=True)
    ran = []
    with pytest.raises(IsADirectoryError, match="is a folder"), atomic_output(out):
        ran.append(True)
    assert not ran and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.parametrize("keep_partial", [False, True])
def test_failing_rename_leaves_nothing_behind(tmp_path, keep_partial, monkeypatch):
    import os

    out = tmp_path / "out.txt"

    def refuse(src, dst):
        raise PermissionError(f"cannot rename {src}")

    with pytest.raises(PermissionError), atomic_output(out, keep_partial=keep_partial) as tmp:
        tmp.write_text("complete")
        monkeypatch.setattr(os, "replace", refuse)
    assert not tmp.exists() and list(tmp_path.iterdir()) == []


def test_missing_folder_is_refused_up_front(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"), atomic_output(tmp_path / "no" / "a.txt"):
        pass
