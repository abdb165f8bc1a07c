"""Several processes allocating from one SQLite store at once never get the same address/subnet.

Each allocation is its own ``store.write()`` transaction, as in the daemon and the CNI plugin;
the store's exclusive write lock is the only coordination. Processes are spawned (not forked) so
each opens its own SQLite connection, like separate ``berth`` invocations would.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import time
from ipaddress import ip_address, ip_network
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from berth.ipam.api import PoolRequest
from berth.ipam.bitmap import Bitmap
from berth.ipam.default import DefaultIpam
from berth.store.sqlite import SqliteStore

PROCESSES = 6
ADDRESSES_EACH = 40
POOLS_EACH = 5  # 6 x 5 = 30 of Docker's 31 default local pools
HOST_ID = "concurrency"


def _let_others_in() -> None:
    """Pause between transactions: SQLite's busy handler sleeps while it waits, so without this
    the process that committed would take the lock again at once and the workers would run one
    after the other instead of interleaving."""
    time.sleep(random.uniform(0.001, 0.01))


def _worker(
    path: str, pool_id: str | None, count: int, start: Barrier, out: Queue[list[str]]
) -> None:
    """Allocate ``count`` addresses from ``pool_id`` (or, if None, ``count`` automatic pools),
    one transaction each, and report what was handed out."""
    store = SqliteStore(path)
    ipam = DefaultIpam(host_id=HOST_ID)
    got: list[str] = []
    start.wait()
    for i in range(count):
        with store.write() as txn:
            if pool_id is None:
                got.append(str(ipam.request_pool(txn, PoolRequest(owner=f"n{i}")).subnet))
            else:
                got.append(str(ipam.request_address(txn, pool_id)))
        _let_others_in()
    store.close()
    out.put(got)


def _run(path: str, pool_id: str | None, count: int) -> list[list[str]]:
    """Start PROCESSES workers released together by a barrier; collect one list from each."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(PROCESSES)
    out: Queue[list[str]] = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(path, pool_id, count, start, out))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    results: list[list[str]] = []
    deadline = time.monotonic() + 120
    while len(results) < PROCESSES:
        try:
            results.append(out.get(timeout=0.5))
        except queue.Empty:
            failed = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            assert not failed, f"worker(s) died with exit codes {failed}"
            assert time.monotonic() < deadline, "workers did not finish in time"
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return results


def test_concurrent_address_requests_are_distinct(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    store = SqliteStore(path)
    with store.write() as txn:
        pool = DefaultIpam(host_id=HOST_ID).request_pool(
            txn, PoolRequest(owner="shared", subnet=ip_network("10.20.0.0/22"))
        )
    results = _run(path, pool.pool_id, ADDRESSES_EACH)

    addresses = [a for got in results for a in got]
    assert len(addresses) == PROCESSES * ADDRESSES_EACH
    assert len(set(addresses)) == len(addresses)
    assert all(a.endswith("/22") for a in addresses)
    # Lowest-free with no releases: exactly the first N*M addresses after the gateway.
    expected = {f"{ip_address('10.20.0.2') + i}/22" for i in range(len(addresses))}
    assert set(addresses) == expected
    with store.read() as txn:
        doc = txn.get("ipam_pool", pool.pool_id)
    assert doc is not None
    bitmap = Bitmap.from_json(doc["bitmap"])
    assert bitmap.runs() == [(0, 1 + len(addresses)), (1023, 1023)]
    store.close()


def test_concurrent_pool_requests_are_distinct(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    SqliteStore(path).close()
    results = _run(path, None, POOLS_EACH)

    subnets = [ip_network(s) for got in results for s in got]
    assert len(subnets) == PROCESSES * POOLS_EACH
    for i, a in enumerate(subnets):
        assert not any(a.overlaps(b) for b in subnets[i + 1 :])
    store = SqliteStore(path)
    with store.read() as txn:
        stored = {ip_network(d["subnet"]) for d in txn.list("ipam_pool")}
    store.close()
    assert stored == set(subnets)
    assert ip_network("192.168.240.0/20") not in stored  # first fit: only the last one is left
