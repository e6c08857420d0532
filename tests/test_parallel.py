"""The per-page process pool: order, cost figures, errors and the worker setting."""

from __future__ import annotations

import os

import pytest

from comix_resources.parallel import default_workers, parallel_map


def _square_plus(offset: int, item: int) -> tuple[int, int]:
    return item * item + offset, os.getpid()


def _fail_on_three(_: None, item: int) -> int:
    if item == 3:
        raise ValueError(f"item {item}")
    return item


def test_results_come_back_in_order_from_several_processes() -> None:
    results, cost = parallel_map(_square_plus, list(range(20)), 5, workers=2)
    assert [value for value, _ in results] == [i * i + 5 for i in range(20)]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and len(pids) == cost.workers == 2
    assert cost.items == 20 and cost.cpu_s > 0 and cost.peak_rss_mb > 10
    assert cost.as_metadata()["peak_rss_mb_per_worker"] == round(cost.peak_rss_mb, 1)


def test_one_worker_runs_here_without_pickling() -> None:
    results, cost = parallel_map(lambda ctx, item: ctx + item, [1, 2], 10, workers=1)
    assert results == [11, 12] and cost.workers == 1


def test_an_error_in_a_worker_is_raised_here() -> None:
    with pytest.raises(ValueError, match="item 3"):
        parallel_map(_fail_on_three, list(range(6)), None, workers=2)


def test_workers_setting() -> None:
    assert default_workers({"COMIX_WORKERS": "3"}) == 3
    assert default_workers({"COMIX_WORKERS": "0"}) == (os.cpu_count() or 1)
    assert default_workers({}) == (os.cpu_count() or 1)
    with pytest.raises(ValueError, match="COMIX_WORKERS"):
        default_workers({"COMIX_WORKERS": "many"})
