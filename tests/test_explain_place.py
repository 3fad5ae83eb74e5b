"""aoc.explain.place: where the picture lands in the model input and how maps go back."""

from __future__ import annotations

import numpy as np
import pytest
from fakes.explain_models import redness

from aoc.explain.place import PlacementError, input_box_to_image, map_to_image, placement
from aoc.inference.bundle_spec import RESIZE_POLICIES
from aoc.inference.resize import resize_frame

RED, GREY = (255, 0, 0), (128, 128, 128)


@pytest.mark.parametrize("policy", RESIZE_POLICIES)
@pytest.mark.parametrize("size", [(300, 120), (90, 200), (64, 64), (33, 17)])
def test_a_map_of_what_the_model_saw_lands_back_where_it_was(policy, size):
    """The redness of the fitted frame, mapped back, is the redness of the original."""
    w, h = size
    img = np.full((h, w, 3), GREY, np.uint8)
    img[h // 4 : h // 2, w // 3 : w // 2] = RED  # inside any centre crop
    fitted = resize_frame(img, (48, 48), policy, resample="nearest")
    where = placement((w, h), (48, 48), policy)
    back = map_to_image(redness(fitted), where)
    seen = ~np.isnan(back)
    left, t, r, b = where.src_box
    assert seen[t:b, left:r].all() and seen.sum() == (r - left) * (b - t)
    truth = redness(img)
    assert np.abs(back[seen] - truth[seen]).mean() < 0.08


def test_placement_boxes():
    assert placement((300, 100), (50, 50), "stretch").src_box == (0, 0, 300, 100)
    crop = placement((300, 100), (50, 50), "center_crop")
    assert crop.src_box == (100, 0, 200, 100) and crop.dst_box == (0, 0, 50, 50)
    box = placement((300, 100), (60, 60), "letterbox")
    assert box.src_box == (0, 0, 300, 100) and box.dst_box == (0, 20, 60, 40)
    assert input_box_to_image((0, 0, 60, 20), box) is None  # padding only
    assert input_box_to_image((0, 0, 30, 30), box) == (0, 0, 150, 50)
    assert input_box_to_image((0, 0, 25, 25), crop) == (100, 0, 150, 50)


def test_a_map_of_the_wrong_shape_is_refused():
    with pytest.raises(PlacementError, match="48x48"):
        map_to_image(np.zeros((10, 10)), placement((100, 50), (48, 48), "stretch"))
