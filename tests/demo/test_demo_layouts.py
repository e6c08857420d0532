from __future__ import annotations

import random

from comix_resources.demo.layouts import (
    STORY_TEMPLATES,
    Leaf,
    cols,
    finish_tree,
    inner_rect,
    inset_quad,
    layout_panels,
    random_tree,
    rows,
)

BOX = (40.0, 40.0, 760.0, 1160.0)


def _boxes(tree, rtl: bool = False) -> list[tuple[int, int, int, int]]:
    finish_tree(tree, random.Random(0), gutter=16, uneven=False)
    return [p.bbox for p in layout_panels(tree, BOX, rtl=rtl)]


def test_grid_reads_rows_then_columns() -> None:
    boxes = _boxes(rows(cols(Leaf(), Leaf()), cols(Leaf(), Leaf())))
    (a, b, c, d) = boxes
    assert a[1] == b[1] < c[1] == d[1]
    assert a[0] < b[0] and c[0] < d[0]


def test_tall_panel_is_read_before_the_stack_beside_it() -> None:
    tall, top, bottom = _boxes(cols(Leaf(), rows(Leaf(), Leaf())))
    assert tall[3] > top[3] and tall[0] < top[0]
    assert top[1] < bottom[1] and top[0] == bottom[0]


def test_right_to_left_mirrors_the_page() -> None:
    ltr = _boxes(cols(Leaf(), rows(Leaf(), Leaf()), weights=(0.4, 0.6)))
    rtl = _boxes(cols(Leaf(), rows(Leaf(), Leaf()), weights=(0.4, 0.6)), rtl=True)
    for a, b in zip(ltr, rtl, strict=True):
        # mirrored around the page's vertical axis (x -> 800 - x - w), same size and rows
        assert abs((800 - a[0] - a[2]) - b[0]) <= 1
        assert all(abs(u - v) <= 1 for u, v in zip(a[1:], b[1:], strict=True))


def test_random_slanted_layouts_never_overlap() -> None:
    for seed in range(300):
        rng = random.Random(seed)
        template = rng.choice([*sorted(STORY_TEMPLATES), "random"])
        tree = random_tree(rng, 720, 1120) if template == "random" else STORY_TEMPLATES[template]()
        finish_tree(tree, rng, gutter=rng.uniform(13, 20), slanted=True)
        panels = layout_panels(tree, BOX, rtl=rng.random() < 0.3)
        assert [p.order for p in panels] == list(range(len(panels)))
        for p in panels:
            x, y, w, h = p.bbox
            assert x >= 40 and y >= 40 and x + w <= 760 and y + h <= 1160
            x0, y0, x1, y1 = inner_rect(inset_quad(p.quad, 4))
            assert x < x0 < x1 < x + w and y < y0 < y1 < y + h
        for i, a in enumerate(panels):
            for b in panels[i + 1 :]:
                ax, ay, aw, ah = a.bbox
                bx, by, bw, bh = b.bbox
                assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
