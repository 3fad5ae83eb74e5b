"""aoc.display.partial: only the changed windows of SSD1306 memory go over the wire."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("luma.oled")
from luma.core.device import dummy  # noqa: E402
from luma.oled.device import sh1106, ssd1306, ssd1309  # noqa: E402

from aoc.display.partial import (  # noqa: E402
    COLUMNADDR,
    PAGEADDR,
    PartialUpdater,
    RecordingSerial,
    Window,
    changed_windows,
    column_runs,
    i2c_time_ms,
    pack_pages,
    supports_partial,
)
from aoc.display.render import render  # noqa: E402
from aoc.display.state import DisplayState  # noqa: E402


class PanelMemory:
    """What an SSD1306 in horizontal addressing mode holds after the recorded transfers."""

    def __init__(self, pages: int = 8, width: int = 128) -> None:
        self.ram = np.zeros((pages, width), np.uint8)
        self.window = (0, width - 1, 0, pages - 1)
        self.col, self.page = 0, 0

    def apply(self, transfers: list[tuple[str, bytes]]) -> None:
        for kind, payload in transfers:
            if kind == "command":
                if len(payload) == 6 and payload[0] == COLUMNADDR and payload[3] == PAGEADDR:
                    self.window = (payload[1], payload[2], payload[4], payload[5])
                    self.col, self.page = payload[1], payload[4]
                continue
            c0, c1, p0, p1 = self.window
            for byte in payload:
                self.ram[self.page, self.col] = byte
                self.col += 1
                if self.col > c1:
                    self.col = c0
                    self.page = p0 if self.page >= p1 else self.page + 1


def state(anime: float, cartoon: float, fps: float = 30.0, view: int = 0) -> DisplayState:
    return DisplayState(anime=anime, cartoon=cartoon, verdict="anime", backend="edgetpu",
                        fps=fps, view=view)


def screen(s: DisplayState, size: tuple[int, int] = (128, 64)) -> Image.Image:
    return render(s, size)


@pytest.fixture
def panel():
    serial = RecordingSerial()
    device = ssd1306(serial)
    memory = PanelMemory()
    memory.apply(serial.take())  # luma's init and clear
    return device, serial, memory


def test_pack_pages_bit_k_is_row_8p_plus_k():
    image = Image.new("1", (128, 64))
    image.putpixel((5, 0), 1)
    image.putpixel((5, 9), 1)
    image.putpixel((127, 63), 1)
    pages = pack_pages(image)
    assert pages.shape == (8, 128) and pages.dtype == np.uint8
    assert pages[0, 5] == 0x01 and pages[1, 5] == 0x02 and pages[7, 127] == 0x80
    assert int(np.count_nonzero(pages)) == 3


def test_pack_pages_matches_what_luma_sends_for_a_full_frame(panel):
    device, serial, memory = panel
    image = screen(state(0.87, 0.12))
    device.display(image)
    memory.apply(serial.take())
    np.testing.assert_array_equal(memory.ram, pack_pages(image))


def test_column_runs_join_short_gaps():
    mask = np.zeros(128, bool)
    mask[[3, 4, 5, 9, 40, 41]] = True
    assert column_runs(mask, gap=10) == [(3, 10), (40, 42)]
    assert column_runs(mask, gap=1) == [(3, 6), (9, 10), (40, 42)]
    assert column_runs(np.zeros(8, bool)) == []


def test_column_runs_join_gaps_shorter_than_gap_only():
    """The documented boundary: a gap shorter than ``gap`` unchanged columns is cheaper to
    resend than a new window's overhead and is joined; from ``gap`` columns on, resending
    the unchanged bytes costs at least a window, so a new window starts."""
    nine, ten = np.zeros(32, bool), np.zeros(32, bool)
    nine[[0, 10]] = True  # 9 unchanged columns between: shorter than the gap
    ten[[0, 11]] = True  # 10 unchanged columns between: not shorter
    assert column_runs(nine, gap=10) == [(0, 11)]
    assert column_runs(ten, gap=10) == [(0, 1), (11, 12)]


def test_changed_windows_cover_every_difference_and_merge_stacked_runs():
    old = np.zeros((8, 128), np.uint8)
    new = old.copy()
    new[2, 10:20] = 0xFF  # a two-page glyph ...
    new[3, 10:20] = 0x0F
    new[6, 100] = 1  # ... and a far single byte
    windows = changed_windows(old, new)
    assert windows == [Window(2, 4, 10, 20), Window(6, 7, 100, 101)]
    covered = np.zeros_like(old, bool)
    for w in windows:
        covered[w.page0:w.page1, w.col0:w.col1] = True
    assert covered[old != new].all()
    assert changed_windows(old, old) == []


def test_partial_update_sends_only_the_changed_window_and_equals_a_full_redraw(panel):
    device, serial, memory = panel
    updater = PartialUpdater(device, full_refresh_s=0)
    first, second = screen(state(0.50, 0.20)), screen(state(0.51, 0.20))
    assert updater.display(first).full
    memory.apply(serial.take())
    report = updater.display(second)
    sent = serial.take()
    assert not report.full and report.windows == len(sent) // 2
    old, new = pack_pages(first), pack_pages(second)
    expected = changed_windows(old, new)
    assert [kind for kind, _ in sent] == ["command", "data"] * len(expected)
    for (_, cmd), (_, data), w in zip(sent[::2], sent[1::2], expected, strict=True):
        assert cmd == bytes((COLUMNADDR, w.col0, w.col1 - 1, PAGEADDR, w.page0, w.page1 - 1))
        assert data == new[w.page0:w.page1, w.col0:w.col1].tobytes()
    assert report.bytes < 256 and report.data_bytes < 1024
    memory.apply(sent)
    np.testing.assert_array_equal(memory.ram, new)
    # ... which is exactly what a full redraw by luma leaves in the panel.
    full = PanelMemory()
    reference_serial = RecordingSerial()
    reference = ssd1306(reference_serial)
    reference.display(second)
    full.apply(reference_serial.take())
    np.testing.assert_array_equal(memory.ram, full.ram)
    twin = dummy(width=128, height=64, mode="1")
    twin.display(second)
    np.testing.assert_array_equal(pack_pages(twin.image), memory.ram)


def test_a_run_of_changing_readings_stays_under_256_bytes_and_consistent(panel):
    device, serial, memory = panel
    updater = PartialUpdater(device, full_refresh_s=0)
    rng = np.random.default_rng(0)
    anime, cartoon, sizes = 0.6, 0.2, []
    for view in (0, 1, 2):
        for i in range(20):
            anime = float(np.clip(anime + rng.normal(0, 0.02), 0, 1))
            cartoon = float(np.clip(cartoon + rng.normal(0, 0.02), 0, 1))
            image = screen(state(anime, cartoon, 30 + rng.normal(0, 2), view))
            report = updater.display(image)
            memory.apply(serial.take())
            np.testing.assert_array_equal(memory.ram, pack_pages(image))
            if i:
                sizes.append(report.bytes)
    assert float(np.median(sizes)) <= 256


def test_nothing_changed_sends_nothing(panel):
    device, serial, _ = panel
    updater = PartialUpdater(device, full_refresh_s=0)
    updater.display(screen(state(0.5, 0.2)))
    serial.take()
    report = updater.display(screen(state(0.5, 0.2)))
    assert report.bytes == 0 and serial.take() == []


def test_full_refresh_on_schedule_on_request_and_after_a_failure(panel):
    device, serial, _ = panel
    now = [0.0]
    updater = PartialUpdater(device, full_refresh_s=60, clock=lambda: now[0])
    a, b = screen(state(0.5, 0.2)), screen(state(0.6, 0.2))
    assert updater.display(a).full
    now[0] = 30
    assert not updater.display(b).full
    now[0] = 61
    assert updater.display(a).full  # the guard against a corrupted panel memory
    updater.refresh()
    assert updater.display(a).full  # on request
    serial.command = lambda *cmd: (_ for _ in ()).throw(OSError(5, "I/O error"))
    with pytest.raises(OSError):
        updater.display(b)
    del serial.command
    assert updater.display(b).full  # panel memory unknown after a failed transfer
    assert updater.full_updates == 4 and updater.partial_updates == 1


def test_a_picture_of_another_size_than_the_panel_memory_is_sent_whole(panel):
    """Diffing a picture against panel memory of another shape cannot work: display()
    raised a numpy broadcasting ValueError (no picture sent) instead of sending it whole."""
    device, serial, _ = panel
    updater = PartialUpdater(device, full_refresh_s=0)
    assert updater.display(screen(state(0.5, 0.2))).full
    serial.take()
    half = screen(state(0.5, 0.2), (128, 32))
    report = updater.display(half)
    assert report.full and report.windows == 1 and report.data_bytes == 4 * 128
    sent = serial.take()
    assert sent[-1] == ("data", pack_pages(half).tobytes())
    assert updater.full_updates == 2 and updater.partial_updates == 0


def test_refresh_in_says_when_the_next_full_frame_is_due(panel):
    device, _, _ = panel
    now = [0.0]
    updater = PartialUpdater(device, full_refresh_s=60, clock=lambda: now[0])
    assert updater.refresh_in() == 0.0  # nothing sent yet: the panel memory is unknown
    updater.display(screen(state(0.5, 0.2)))
    now[0] = 45
    assert updater.refresh_in() == 15
    now[0] = 75
    assert updater.refresh_in() == 0.0
    updater.display(screen(state(0.5, 0.2)))  # due: sent whole, the next in 60 s
    assert updater.refresh_in() == 60
    updater.refresh()
    assert updater.refresh_in() == 0.0
    assert PartialUpdater(device, full_refresh_s=0).refresh_in() == 0.0
    never = PartialUpdater(device, full_refresh_s=0)
    never.display(screen(state(0.5, 0.2)))
    assert never.refresh_in() is None


def test_assume_blank_after_a_luma_clear(panel):
    device, serial, memory = panel
    updater = PartialUpdater(device, full_refresh_s=0)
    updater.display(screen(state(0.5, 0.2)))
    device.clear()
    updater.assume_blank()
    memory.apply(serial.take())
    image = screen(state(0.5, 0.2))
    report = updater.display(image)
    assert not report.full
    memory.apply(serial.take())
    np.testing.assert_array_equal(memory.ram, pack_pages(image))


def test_only_the_ssd1306_family_is_driven_partially():
    assert supports_partial(ssd1306(RecordingSerial()))
    assert supports_partial(ssd1309(RecordingSerial()))
    assert not supports_partial(sh1106(RecordingSerial()))
    assert not supports_partial(dummy(mode="1"))


def test_i2c_time_of_a_full_frame():
    # One command and one 1,024-byte data transaction: about 23 ms at 400 kHz.
    full = [("command", bytes(6)), ("data", bytes(1024))]
    assert i2c_time_ms(full, 400_000) == pytest.approx(23.3, abs=0.2)
    assert i2c_time_ms(full, 100_000) == pytest.approx(4 * i2c_time_ms(full, 400_000))
