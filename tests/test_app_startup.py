"""Tests for aoc.app.startup: settings no retry could fix are refused before anything opens."""

from __future__ import annotations

import pytest
from fakes.app_configs import make_config

from aoc.app.host import Host
from aoc.app.startup import startup_checks
from aoc.config_sections import Config
from aoc.errors import ConfigError


def emulated(path) -> Config:
    return make_config(display={"kind": "emulated", "path": str(path)})


def test_start_up_checks_refuse_what_no_retry_fixes(tmp_path):
    with pytest.raises(ConfigError, match="camera.source"):
        startup_checks(make_config(camera={"source": "dmeo"}), "null")
    bad_path = make_config(display={"path": str(tmp_path / "missing" / "x.png")})
    with pytest.raises(ConfigError, match="display.path.*does not exist"):
        startup_checks(bad_path, "emulated")
    startup_checks(bad_path, "null")  # only the emulated display writes there
    startup_checks(make_config(display={"path": str(tmp_path / "x.png")}), "emulated")


@pytest.mark.parametrize("name", ["x.png", "x.GIF", "f_{0:05}.png", "f_{}.png", "frames"])
def test_the_forms_the_emulated_display_writes_are_accepted(tmp_path, name):
    (tmp_path / "frames").mkdir()
    startup_checks(emulated(tmp_path / name), "emulated")


@pytest.mark.parametrize(("name", "why"), [
    ("f_{0:q}.png", "not a template"),  # a bad format spec: a traceback per frame before
    ("f_{1}.png", "not a template"),
    ("f_{name}.png", "not a template"),
    ("x", "is not a .png or .gif file"),  # luma wrote a Targa file
    ("newdir/", "or an existing folder"),  # meant as a folder that does not exist
])
def test_paths_the_emulated_display_cannot_write_are_refused(tmp_path, name, why):
    with pytest.raises(ConfigError, match=f"display.path.*{why}") as info:
        startup_checks(emulated(f"{tmp_path}/{name}"), "emulated")
    assert info.value.key == "display.path"
    with pytest.raises(ConfigError, match="display.path is empty"):
        startup_checks(emulated(""), "emulated")


def test_a_folder_named_like_a_gif_is_refused(tmp_path):
    (tmp_path / "a.gif").mkdir()
    with pytest.raises(ConfigError, match="display.path.*animated GIF needs a file name"):
        startup_checks(emulated(tmp_path / "a.gif"), "emulated")


def test_stream_url_under_systemd_is_warned_about(caplog):
    url = make_config(camera={"source": "rtsp://192.0.2.10/stream"})
    startup_checks(url, "null", host=Host())
    assert "stream URL" not in caplog.text  # by hand: the network is allowed
    startup_checks(url, "null", host=Host(under_systemd=True))
    assert "forbids IP sockets" in caplog.text and "systemctl edit" in caplog.text
