"""The hand-off between the polling thread and the loading thread (``warehouse/handoff.py``)."""

from __future__ import annotations

import threading

import pytest

from pos_pipeline.warehouse.handoff import CheckedBatch, LoadAbandoned, LoadQueue


def _batch(partition: int, offset: int) -> CheckedBatch:
    return CheckedBatch(offsets={("PointOfSale", partition): offset}, messages=1)


class _Loader:
    """Loads by recording; the first load waits until released, as a slow database would."""

    def __init__(self, outcome: bool | Exception = True) -> None:
        self.loaded: list[CheckedBatch] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.outcome = outcome

    def __call__(self, batch: CheckedBatch) -> bool:
        self.started.set()
        assert self.release.wait(10)
        self.loaded.append(batch)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_what_arrives_during_a_load_is_loaded_next_as_one_batch() -> None:
    loader = _Loader()
    queue = LoadQueue(loader)
    try:
        queue.put(_batch(0, 1))
        assert loader.started.wait(10)
        for offset in (2, 3, 4):  # read while the first batch is loading
            queue.put(_batch(offset % 2, offset))
        assert queue.filling == 3
        loader.release.set()
        queue.drain()
        done = queue.take_done()
    finally:
        queue.close()
    assert [b.messages for b in loader.loaded] == [1, 3]
    assert done == loader.loaded
    # The merged batch commits the highest offset read on each partition.
    assert done[1].offsets == {("PointOfSale", 0): 4, ("PointOfSale", 1): 3}
    assert queue.take_done() == []


def test_a_full_batch_waits_for_room() -> None:
    loader = _Loader()
    queue = LoadQueue(loader)
    try:
        queue.put(_batch(0, 1))
        assert loader.started.wait(10)
        queue.put(_batch(0, 2))
        queue.put(_batch(0, 3))
        assert not queue.wait_for_room(2, 0.05)  # two filling: full at a capacity of two
        loader.release.set()
        assert queue.wait_for_room(2, 10)
        queue.drain()
    finally:
        queue.close()
    assert sum(b.messages for b in loader.loaded) == 3


def test_an_abandoned_batch_stops_the_queue_after_the_loaded_ones() -> None:
    loader = _Loader(outcome=True)
    queue = LoadQueue(loader)
    try:
        queue.put(_batch(0, 1))
        loader.release.set()
        queue.drain()
        loader.outcome = False  # the next load gives up (stopped during an outage)
        queue.put(_batch(0, 2))
        queue.drain()
        queue.put(_batch(0, 3))  # read after it: never loaded
        assert [b.offsets for b in queue.take_done()] == [{("PointOfSale", 0): 1}]
        with pytest.raises(LoadAbandoned):
            queue.take_done()
    finally:
        queue.close()
    assert [b.offsets for b in loader.loaded] == [{("PointOfSale", 0): 1}, {("PointOfSale", 0): 2}]


def test_a_loading_error_reaches_the_polling_thread() -> None:
    loader = _Loader(outcome=RuntimeError("the database said no"))
    loader.release.set()
    queue = LoadQueue(loader)
    try:
        queue.put(_batch(0, 1))
        queue.drain()
        with pytest.raises(RuntimeError, match="the database said no"):
            queue.take_done()
    finally:
        queue.close()


def test_close_stops_the_loading_thread_without_loading_what_is_filling() -> None:
    loader = _Loader()
    queue = LoadQueue(loader)
    queue.put(_batch(0, 1))
    assert loader.started.wait(10)
    queue.put(_batch(0, 2))
    closing = threading.Thread(target=queue.close)
    closing.start()
    for _ in range(1000):  # the loader is still busy with the first batch: only close empties it
        if queue.filling == 0:
            break
        closing.join(0.01)
    assert queue.filling == 0
    loader.release.set()
    closing.join(10)
    assert not closing.is_alive()
    assert [b.messages for b in loader.loaded] == [1]
