import threading
import time

import pytest

from liveinspect.pipelines.batcher import Batcher


def test_outputs_come_back_in_order_and_batches_are_bounded():
    sizes = []

    def square(batch):
        sizes.append(len(batch))
        return [x * x for x in batch]

    with Batcher(square, max_batch_size=4, max_wait_s=0.05) as batcher:
        assert batcher.map(range(10)) == [x * x for x in range(10)]
    assert max(sizes) <= 4
    assert sum(sizes) == 10
    assert len(sizes) < 10  # items were grouped, not run one by one


def test_items_from_many_threads_share_batches():
    sizes = []

    def ident(batch):
        sizes.append(len(batch))
        time.sleep(0.01)
        return list(batch)

    results = {}
    with Batcher(ident, max_batch_size=16, max_wait_s=0.05) as batcher:
        def stream(sid):
            results[sid] = batcher.map([(sid, i) for i in range(5)])

        threads = [threading.Thread(target=stream, args=(s,)) for s in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(results[s] == [(s, i) for i in range(5)] for s in range(6))
    assert max(sizes) > 5  # at least one batch mixed items of several streams


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on():
    def picky(batch):
        if any(x < 0 for x in batch):
            raise ValueError("negative input")
        return batch

    with Batcher(picky, max_batch_size=1, max_wait_s=0) as batcher:
        bad = batcher.submit(-1)
        with pytest.raises(ValueError, match="negative"):
            bad.result(timeout=5)
        assert batcher.submit(3).result(timeout=5) == 3


def test_wrong_number_of_outputs_is_an_error():
    with Batcher(lambda batch: [], max_batch_size=8, max_wait_s=0.05) as batcher:
        futures = [batcher.submit(i) for i in range(3)]
        with pytest.raises(RuntimeError, match="outputs"):
            for f in futures:
                f.result(timeout=5)


def test_closed_batcher_refuses_work():
    batcher = Batcher(lambda b: b)
    batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit(1)


def test_each_item_carries_its_share_of_the_batch_time():
    def slow(batch):
        time.sleep(0.2)
        return list(batch)

    with Batcher(slow, max_batch_size=4, max_wait_s=0.2) as batcher:
        futures = [batcher.submit(i) for i in range(4)]
        [f.result() for f in futures]
    shares = [f.compute_s for f in futures]
    assert len(set(shares)) == 1  # one batch, split evenly
    assert 0.2 <= sum(shares) < 0.4
