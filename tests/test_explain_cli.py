"""aoc.explain.cli: ``aoc explain`` on a test bundle writes a PNG per image and valid JSON,
and reports a bad image while still doing the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aoc.cli import main

MODELS = Path(__file__).parent / "data" / "models"



def test_explain_writes_png_and_json_per_image_and_reports_a_bad_one(tmp_path, capsys):
    red = np.full((60, 90, 3), 128, np.uint8)
    red[:30, :45] = (255, 0, 0)
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(np.full((40, 40, 3), (0, 200, 0), np.uint8)).save(tmp_path / "green.jpg")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "maps"
    images = [str(tmp_path / n) for n in ("red.png", "broken.png", "green.jpg")]
    config = tmp_path / "config.toml"
    config.write_text("")
    code = main(["explain", "--config", str(config), "--bundle", str(MODELS / "uint8"),
                 "--out", str(out), "--budget", "24", "--seed", "5", "--json", *images])
    captured = capsys.readouterr()
    assert code == 1  # one image failed
    assert "broken.png" in captured.err and "skipped" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["green.json", "green.png", "red.json",
                                                      "red.png"]
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["image"] for r in lines] == [images[0], images[2]]
    red_json = json.loads((out / "red.json").read_text())
    assert red_json == lines[0]
    assert red_json["top"] == "anime" and red_json["budget"] == 24 and red_json["seed"] == 5
    assert red_json["method"] == "rise" and red_json["invocations"] == 25
    assert red_json["image_size"] == [90, 60] and red_json["regions"]
    with Image.open(out / "red.png") as png:
        assert png.format == "PNG"


def test_explain_without_json_prints_one_line_per_image(tmp_path, capsys):
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "config.toml").write_text("")
    code = main(["explain", "--config", str(tmp_path / "config.toml"), "--bundle",
                 str(MODELS / "int8"), "--out", str(tmp_path / "o"), "--budget", "8",
                 str(tmp_path / "a.png"), str(tmp_path / "a.png")])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and len(out) == 2
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a-2.png", "a.png"]


def test_explain_never_writes_over_the_pictures_it_explains(tmp_path, capsys):
    """`aoc explain photos/*.png --out photos` replaced each photo by its explanation."""
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(photos / "a.png")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(photos / "b.jpg")
    (photos / "b.json").write_text("{}")  # a picture's own notes
    before = {p.name: p.read_bytes() for p in photos.iterdir()}
    (tmp_path / "config.toml").write_text("")
    code = main(["explain", "--config", str(tmp_path / "config.toml"), "--bundle",
                 str(MODELS / "int8"), "--out", str(photos), "--budget", "4", "--json",
                 str(photos / "a.png"), str(photos / "b.jpg"), str(photos / "b.json")])
    capsys.readouterr()
    assert code == 1  # b.json is no picture
    assert {p.name: p.read_bytes() for p in photos.iterdir() if p.name in before} == before
    assert sorted(set(p.name for p in photos.iterdir()) - set(before)) == [
        "a-2.json", "a-2.png", "b-2.json", "b-2.png"]


def test_explain_refuses_a_budget_below_two(tmp_path, capsys):
    (tmp_path / "config.toml").write_text("")
    code = main(["explain", "--config", str(tmp_path / "config.toml"), "--bundle",
                 str(MODELS / "uint8"), "--out", str(tmp_path), "--budget", "1", "x.png"])
    assert code == 2 and "--budget" in capsys.readouterr().err


@pytest.mark.parametrize("seed", ["-1", "x"])
def test_explain_refuses_a_seed_that_is_not_a_count(tmp_path, capsys, seed):
    """-1 ended in numpy's ValueError traceback, after the model had loaded."""
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(SystemExit) as stop:
        main(["explain", "--config", str(tmp_path / "config.toml"), "--bundle",
              str(MODELS / "uint8"), "--out", str(tmp_path), "--seed", seed, "x.png"])
    assert stop.value.code == 2 and "--seed" in capsys.readouterr().err


def test_explain_reads_pictures_as_classify_does(tmp_path, capsys):
    """A 16-bit picture: read raw, every value over 255 became white and the model saw a
    white page; classify scales it. Both must see the same picture, and a FIFO is refused
    instead of hanging."""
    import os

    red = np.zeros((40, 60, 3), np.uint16)
    red[..., 0] = 65535  # the tiny model calls red "anime"
    grey16 = Image.fromarray(np.arange(40 * 60, dtype=np.uint16).reshape(40, 60) * 27)
    grey16.save(tmp_path / "grey16.png")
    Image.fromarray((red >> 8).astype(np.uint8)).save(tmp_path / "red8.png")
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "config.toml").write_text("")
    args = ["--config", str(tmp_path / "config.toml"), "--bundle", str(MODELS / "uint8")]
    pictures = [str(tmp_path / n) for n in ("grey16.png", "red8.png", "pipe.png")]
    code = main(["explain", *args, "--out", str(tmp_path / "o"), "--budget", "4", "--json",
                 *pictures])
    explained = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and [r["image"] for r in explained] == pictures[:2]
    main(["classify", *args, "--json", *pictures[:2]])
    classified = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for e, c in zip(explained, classified, strict=True):
        assert e["top"] == c["top"][0]["label"]
        assert e["scores"][e["top"]] == pytest.approx(c["top"][0]["score"], abs=1e-4)


@pytest.mark.parametrize("where", ["a_file", "a_file/below"])
def test_an_out_folder_that_cannot_be_made_is_a_usage_error(tmp_path, capsys, where):
    (tmp_path / "a_file").write_text("not a folder")
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "config.toml").write_text("")
    code = main(["explain", "--config", str(tmp_path / "config.toml"), "--bundle",
                 str(MODELS / "int8"), "--out", str(tmp_path / where), "--budget", "4",
                 str(tmp_path / "a.png")])
    assert code == 2 and "cannot be a folder for the pictures" in capsys.readouterr().err
