"""The app's log file: in the user data folder, rotated, no duplicate handlers."""
from __future__ import annotations

import logging

import pytest

from vision_studio.logging_setup import LOG_NAME, setup_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def test_log_file_goes_to_user_data_dir(tmp_path, monkeypatch, restore_root_logger):
    monkeypatch.setenv("VISION_STUDIO_HOME", str(tmp_path / "home"))
    path = setup_logging()
    assert path == tmp_path / "home" / "logs" / LOG_NAME
    logging.getLogger("vision_studio.test").info("hello from the test")
    for h in logging.getLogger().handlers:
        h.flush()
    text = path.read_text(encoding="utf-8")
    assert "INFO" in text and "vision_studio.test: hello from the test" in text


def test_setup_twice_writes_each_record_once(tmp_path, restore_root_logger):
    setup_logging(directory=tmp_path)
    path = setup_logging(directory=tmp_path)
    logging.getLogger("vision_studio.test").warning("only once")
    for h in logging.getLogger().handlers:
        h.flush()
    assert path.read_text(encoding="utf-8").count("only once") == 1


def test_log_file_rotates(tmp_path, restore_root_logger):
    path = setup_logging(directory=tmp_path, max_bytes=2000, backups=2)
    for i in range(200):
        logging.getLogger("vision_studio.test").info("line %03d %s", i, "x" * 40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [LOG_NAME, f"{LOG_NAME}.1", f"{LOG_NAME}.2"]
    assert path.stat().st_size <= 2000
    assert "line 199" in path.read_text(encoding="utf-8")


def test_unwritable_folder_is_not_fatal(tmp_path, restore_root_logger):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert setup_logging(directory=blocker / "logs") is None
    logging.getLogger("vision_studio.test").error("still logs to stderr")


def test_python_warnings_are_logged(tmp_path, restore_root_logger):
    import warnings

    path = setup_logging(directory=tmp_path)
    warnings.warn("a deprecated thing", UserWarning)
    for h in logging.getLogger().handlers:
        h.flush()
    assert "a deprecated thing" in path.read_text(encoding="utf-8")


def test_existing_console_handler_keeps_its_verbosity(tmp_path, restore_root_logger, capsys):
    import sys

    root = logging.getLogger()
    root.setLevel(logging.WARNING)  # what logging.basicConfig(level=WARNING) sets up
    root.addHandler(logging.StreamHandler(sys.stderr))
    console = [h for h in root.handlers if type(h) is logging.StreamHandler]
    path = setup_logging(directory=tmp_path)
    assert [h for h in root.handlers if type(h) is logging.StreamHandler] == console  # no 2nd
    logging.getLogger("vision_studio.test").info("detail for the file only")
    logging.getLogger("vision_studio.test").warning("shown everywhere")
    for h in root.handlers:
        h.flush()
    err = capsys.readouterr().err
    assert "shown everywhere" in err and "detail for the file only" not in err
    text = path.read_text(encoding="utf-8")
    assert "detail for the file only" in text and "shown everywhere" in text
