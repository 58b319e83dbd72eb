"""The node ledger (backends/placement.py): exclusive cores and units, memory, the
starvation bound, and claims of dead processes dropped."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from orchestrator.backends import placement
from orchestrator.backends.placement import Ledger, PlacementError, Request, placed

GiB = 1 << 30


def _ledger(tmp_path, cpus=(0, 1, 2, 3), memory=8 * GiB) -> Ledger:
    return Ledger(str(tmp_path / "ledger.json"), list(cpus), memory)


def test_claims_are_disjoint_and_released(tmp_path):
    led = _ledger(tmp_path)
    a = led.acquire(Request("a", 2, ("gpu:0",)), "a")
    b = led.acquire(Request("b", 1, ("gpu:1",)), "b")
    assert set(a.cpus).isdisjoint(b.cpus) and len(a.cpus) == 2 and len(b.cpus) == 1
    led.release("a")
    c = led.acquire(Request("c", 3, ("gpu:0",)), "c")
    assert set(c.cpus).isdisjoint(b.cpus) and len(c.cpus) == 3


def _blocked(led: Ledger, req: Request, key: str, seconds: float = 0.3) -> bool:
    """True when acquiring `req` is still waiting after `seconds`."""
    got = threading.Event()

    def take():
        with contextlib.suppress(FileNotFoundError):  # a waiter outliving its test's dir
            led.acquire(req, key)
            got.set()

    threading.Thread(target=take, daemon=True).start()
    return not got.wait(seconds)


def test_a_busy_unit_cores_or_memory_make_a_task_wait(tmp_path):
    led = _ledger(tmp_path)
    led.acquire(Request("a", 1, ("gpu:0",), 6 * GiB), "a")
    assert _blocked(led, Request("same-unit", 1, ("gpu:0",)), "k1")
    assert _blocked(led, Request("memory", 1, ("gpu:2",), 3 * GiB), "k2")
    assert _blocked(led, Request("all", None), "k3")  # cores: all needs every core free
    assert not _blocked(led, Request("fits", 1, ("gpu:3",), 1 * GiB), "k4")


def test_a_task_bigger_than_the_node_fails_at_once(tmp_path):
    led = _ledger(tmp_path, cpus=(0, 1))
    with pytest.raises(PlacementError, match=r"needs 3 cores; .* gives the run 2"):
        led.acquire(Request("big", 3), "big")
    with pytest.raises(PlacementError, match="memory"):
        led.acquire(Request("fat", 1, (), 9 * GiB), "fat")


def test_the_oldest_waiter_goes_first_after_the_starvation_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(placement, "STARVATION_S", 0.2)
    led = _ledger(tmp_path, cpus=(0, 1))
    led.acquire(Request("small-0", 1), "s0")
    big_started = threading.Event()

    def big():
        led.acquire(Request("big", 2), "big")
        big_started.set()

    threading.Thread(target=big, daemon=True).start()
    time.sleep(0.1)  # big now waits (one core busy); backfill may still pass it
    led.acquire(Request("small-1", 1), "s1")
    led.release("s0")
    time.sleep(0.3)  # big has waited past the bound: no small task may start now
    assert _blocked(led, Request("small-2", 1), "s2", 0.3)
    led.release("s1")
    assert big_started.wait(2), "the big task should start once the cores are free"


def _hold_and_hang(path: str, ready) -> None:
    Ledger(path, [0, 1], GiB).acquire(Request("victim", 2, ("gpu:0",)), "victim")
    ready.set()
    time.sleep(60)


def test_claims_of_a_killed_worker_are_dropped(tmp_path):
    path = str(tmp_path / "ledger.json")
    ready = multiprocessing.get_context("fork").Event()
    proc = multiprocessing.get_context("fork").Process(target=_hold_and_hang, args=(path, ready))
    proc.start()
    assert ready.wait(10)
    led = Ledger(path, [0, 1], GiB)
    grants, got = [], threading.Event()

    def take():
        grants.append(led.acquire(Request("next", 2, ("gpu:0",)), "n1"))
        got.set()

    threading.Thread(target=take, daemon=True).start()
    assert not got.wait(0.3), "the live holder's claim was ignored"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(5)
    assert got.wait(10), "the killed worker's claim still holds the node"
    assert len(grants[0].cpus) == 2


def test_placed_binds_the_thread_and_restores_it(tmp_path):
    before = os.sched_getaffinity(0)
    first = min(before)
    led = _ledger(tmp_path, cpus=sorted(before))
    with placed(led, Request("t", 1)) as grant:
        assert os.sched_getaffinity(0) == {first} == set(grant.cpus)
    assert os.sched_getaffinity(0) == before


def _wait_for_node(path: str) -> None:
    Ledger(path, [0, 1], GiB).acquire(Request("waiter", 2), "waiter")
    time.sleep(60)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_claims_and_waits_of_an_unreaped_killed_worker_are_dropped(tmp_path, monkeypatch):
    """A worker killed after its manager died is reparented to pid 1, which in a container
    may never reap it: its zombie must not hold cores, nor, as the oldest waiter, the node
    (the worker-chaos run that hung in CI)."""
    monkeypatch.setattr(placement, "STARVATION_S", 0.1)
    path = str(tmp_path / "ledger.json")
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    holder = fork.Process(target=_hold_and_hang, args=(path, ready))
    holder.start()
    assert ready.wait(10)
    waiter = fork.Process(target=_wait_for_node, args=(path,))
    waiter.start()
    deadline = time.monotonic() + 10
    while "waiter" not in Path(path).read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    for proc in (holder, waiter):
        os.kill(proc.pid, signal.SIGKILL)  # and never joined: they stay zombies
    deadline = time.monotonic() + 5
    while {_state(holder.pid), _state(waiter.pid)} != {"Z"} and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(holder.pid) == _state(waiter.pid) == "Z"
    time.sleep(0.2)  # the dead waiter is now past the starvation bound
    led = Ledger(path, [0, 1], GiB)
    assert not _blocked(led, Request("after", 2, ("gpu:0",)), "n", 3.0)
    for proc in (holder, waiter):
        proc.join(5)
