"""The run-directory lock (state/lock.py): one holder, named in the refusal, never stale."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from orchestrator.errors import UserError
from orchestrator.state.lock import LOCK_NAME, acquire, describe, holder

HOLD = """\
import sys, time
from orchestrator.state.lock import acquire
lock = acquire(sys.argv[1], ["run", "--resume", sys.argv[1]])
print("locked", flush=True)
time.sleep(120)
"""


def _holder_process(run_dir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_holder_is_refused_with_the_first_ones_details(tmp_path):
    with acquire(tmp_path, ["run", "wf.yaml"]):
        info = json.loads((tmp_path / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        assert info["argv"] == ["run", "wf.yaml"]
        t0 = time.monotonic()
        with pytest.raises(UserError) as exc:
            acquire(tmp_path)
        assert time.monotonic() - t0 < 1.0  # a live holder: refused at once
        msg = str(exc.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in msg
        assert f"kill {os.getpid()}" in msg and f"orch run --resume {tmp_path}" in msg
        assert "orch run wf.yaml" in msg
        assert holder(tmp_path)["pid"] == os.getpid()
    assert holder(tmp_path) is None
    assert (tmp_path / LOCK_NAME).read_text() == ""  # released: no holder details left
    acquire(tmp_path).release()


def test_a_lock_held_by_a_process_killed_with_sigkill_is_free_again(tmp_path):
    proc = _holder_process(tmp_path)
    try:
        with pytest.raises(UserError, match=f"pid {proc.pid} "):
            acquire(tmp_path)
        assert holder(tmp_path)["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert holder(tmp_path) is None  # the kernel let go; the stale details do not matter
    t0 = time.monotonic()
    with acquire(tmp_path) as lock:
        assert time.monotonic() - t0 < 1.0
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_a_holder_that_is_gone_but_whose_descriptor_lives_on(tmp_path):
    """A child forked by a killed driver still holds the lock: wait `settle`, then say so."""
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({"pid": _dead_pid(), "host": socket.gethostname(),
                                 "started": time.time() - 30}).encode())
        t0 = time.monotonic()
        with pytest.raises(UserError, match=r"has ended.*fuser -v"):
            acquire(tmp_path, settle=0.3)
        assert 0.3 <= time.monotonic() - t0 < 2.0
    finally:
        os.close(fd)
    acquire(tmp_path, settle=0.3).release()


def test_a_holder_on_another_host_is_assumed_alive(tmp_path):
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, json.dumps({"pid": 4242, "host": "elsewhere.example"}).encode())
        with pytest.raises(UserError, match=r"kill 4242` \(on elsewhere.example\)"):
            acquire(tmp_path, settle=5.0)
    finally:
        os.close(fd)


def test_describe_is_human_readable():
    now = 1_800_000_000.0
    text = describe({"pid": 7, "host": "h", "started": now - 300, "argv": ["run", "x.yaml"]},
                    now=now)
    assert text.startswith("pid 7 on host h, since ")
    assert "(5 min ago): orch run x.yaml" in text
    assert describe({}) == "a process that has not said who it is"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_directory_without_write_access_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot open the run directory's lock file"):
        acquire(tmp_path / "missing")
