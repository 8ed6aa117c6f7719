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
