"""The CLI's last guard, run as a real process: one ``error:`` line and exit 1 for any
failure, the traceback in the log file the line names, 130 on Ctrl-C, never a raw
traceback on the terminal."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A command module registered next to the real ones: "boom" raises what it is told to,
# "nap" waits for a signal.
_PLUGIN = textwrap.dedent('''
    import sys, time

    def register(sub):
        p = sub.add_parser("boom")
        p.add_argument("kind")
        p.set_defaults(func=_boom)
        p = sub.add_parser("nap")
        p.set_defaults(func=_nap)

    def _boom(args):
        if args.kind == "value":
            raise ValueError("a deliberately\\nunexpected value")
        if args.kind == "recursion":
            def deep(n):
                return deep(n + 1)
            deep(0)
        if args.kind == "interrupt":
            raise KeyboardInterrupt
        if args.kind == "store":
            from vision_studio.core.store import ProjectStore
            ProjectStore.open("missing.vsproj")
        return 0

    def _nap(args):
        print("napping", flush=True)
        time.sleep(60)
''')
_MAIN = ("import sys, vision_studio.cli as cli; "
         "cli.COMMAND_MODULES = cli.COMMAND_MODULES + ('vs_test_plugin',); "
         "sys.exit(cli.main())")


@pytest.fixture
def cli(tmp_path):
    """Run ``vision-studio ARGS`` with the test plugin; the user data folder in tmp."""
    (tmp_path / "vs_test_plugin.py").write_text(_PLUGIN)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]),
               VISION_STUDIO_HOME=str(tmp_path / "home"))

    def run(*args: str, **kw) -> subprocess.CompletedProcess | subprocess.Popen:
        cmd = [sys.executable, "-c", _MAIN, *args]
        if kw.get("popen"):
            # Ctrl-C as in a terminal: a run started in the background (``cmd &`` without job
            # control, as CI may be) inherits SIGINT ignored, and Python then never raises
            # KeyboardInterrupt
            return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
    return run


@pytest.mark.parametrize("kind,name", [("value", "ValueError"), ("recursion", "RecursionError")])
def test_an_unexpected_exception_is_one_line_and_a_logged_traceback(cli, tmp_path, kind, name):
    out = cli("boom", kind)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    log = tmp_path / "home" / "logs" / "vision-studio.log"
    assert lines[0].startswith(f"error: unexpected {name}: ")
    assert f"the details are in {log}" in lines[0]
    assert "Traceback" not in out.stderr + out.stdout
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and f"vs_test_plugin.py" in text
    assert f"in: vision-studio boom {kind}" in text


def test_a_vision_studio_error_is_one_line_without_a_log(cli, tmp_path):
    out = cli("boom", "store")
    assert out.returncode == 1
    assert out.stderr == "error: missing.vsproj: no such project file\n"
    assert not (tmp_path / "home" / "logs").exists()


def test_an_unwritable_log_folder_still_gives_one_line(cli, tmp_path):
    (tmp_path / "home").write_text("a file where the folder should be")
    out = cli("boom", "value")
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1
    assert "the details are in" in out.stderr  # the temporary folder took it


def test_ctrl_c_exits_130_quietly(cli):
    out = cli("boom", "interrupt")
    assert (out.returncode, out.stderr) == (130, "")
    proc = cli("nap", popen=True)
    assert proc.stdout.readline().strip() == "napping"
    os.kill(proc.pid, signal.SIGINT)  # a real Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "")


def test_usage_errors_keep_argparse_exit_code_2(cli):
    out = cli("no-such-command")
    assert out.returncode == 2 and "Traceback" not in out.stderr
