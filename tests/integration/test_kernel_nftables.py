"""LibNftables against the real kernel: a context created inside a test namespace acts there."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from berth.kernel.nftables import LibNftables
from berth.model.errors import KernelError
from tests.integration.netenv import Ns, namespace, sh, unique

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (nftables in a namespace)"),
]


@pytest.fixture
def nft(host: Ns) -> Iterator[LibNftables]:
    adapter = LibNftables(host.path)
    yield adapter
    adapter.close()


def tables(ns: Ns) -> str:
    return ns.run("nft", "list", "tables").stdout


def test_the_context_acts_in_the_namespace_it_was_created_in(nft: LibNftables, host: Ns) -> None:
    table = unique("berth_t")
    with namespace("btn") as other:
        nft.run(f"add table inet {table}")
        assert f"table inet {table}" in tables(host)
        assert table not in tables(other)
    # Reading the machine's own ruleset changes nothing; it must not have our table.
    assert table not in sh("nft", "list", "tables").stdout


def test_the_context_keeps_its_namespace_from_any_thread(nft: LibNftables, host: Ns) -> None:
    table = unique("berth_t")
    worker = threading.Thread(target=nft.run, args=(f"add table ip {table}",))
    worker.start()
    worker.join()
    assert f"table ip {table}" in tables(host)


def test_run_returns_output(nft: LibNftables) -> None:
    table = unique("berth_t")
    nft.run(f"add table inet {table}")
    nft.run(f"add set inet {table} ports {{ type inet_service; }}")
    nft.run(f"add element inet {table} ports {{ 80, 443 }}")
    listing = nft.run(f"list set inet {table} ports")
    assert "80" in listing and "443" in listing


def test_a_failing_script_applies_nothing(nft: LibNftables, host: Ns) -> None:
    table = unique("berth_t")
    script = (
        f"add table inet {table}\nadd chain inet {table} c\nadd rule inet {table} nosuch drop\n"
    )
    with pytest.raises(KernelError) as excinfo:
        nft.run(script)
    assert "Error: Could not process rule: No such file or directory" in str(excinfo.value)
    assert table not in tables(host)
    with pytest.raises(KernelError, match="syntax error"):
        nft.run("this is not nft")
    nft.run(f"add table inet {table}")  # the context is still usable
    assert table in tables(host)


def test_closed_context_refuses_work(host: Ns) -> None:
    nft = LibNftables(host.path)
    nft.close()
    nft.close()
    with pytest.raises(KernelError, match="closed"):
        nft.run("list tables")
