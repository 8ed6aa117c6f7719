"""The root command: help lists the commands, unknown commands fail cleanly."""


def test_help_lists_commands(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for name in ("synth", "preprocess"):
        assert name in out


def test_unknown_command_is_a_clean_error(run_cli):
    code, _, err = run_cli("no-such-command")
    assert code != 0
    assert "Traceback" not in err


def _stop_inside(monkeypatch, action):
    """Make `stereo synth` run ``action`` half-way through writing its two files."""
    import datasets.synthetic.recording as recording

    def half_written(config, data_path, gt_path, *, show_progress):
        data_path.write_bytes(b"half")
        gt_path.write_bytes(b"half")
        action()

    monkeypatch.setattr(recording, "_simulate", half_written)


def test_ctrl_c_and_sigterm_are_one_line_and_leave_nothing(tmp_path, run_cli, monkeypatch):
    import os
    import signal

    def ctrl_c():
        raise KeyboardInterrupt

    for action, code, word in ((ctrl_c, 130, "interrupted"),
                               (lambda: os.kill(os.getpid(), signal.SIGTERM), 143, "terminated")):
        _stop_inside(monkeypatch, action)
        got, _, err = run_cli("synth", tmp_path / "s", "--seconds", "0.2")
        assert (got, err.strip()) == (code, f"stereo: {word}")
        assert list(tmp_path.iterdir()) == []  # neither output nor a hidden partial
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler lives only while a command runs


def test_unexpected_end_of_file_is_one_line(tmp_path, run_cli, monkeypatch):
    def eof():
        raise EOFError("No data left in file")

    _stop_inside(monkeypatch, eof)
    code, _, err = run_cli("synth", tmp_path / "s", "--seconds", "0.2")
    assert code == 1 and err.strip() == "stereo: error: unexpected end of file (No data left in file)"
