"""The completer records task completions off Parsl's callback thread, in order."""

import threading
import time

from orchestrator.backends.completions import Completer


def test_records_in_order_and_sync_waits_for_everything_queued():
    seen = []
    slow = threading.Event()

    def record(i):
        if i == 0:
            slow.wait(5)  # the first record is slow: the rest must wait behind it, in order
        seen.append(i)

    c = Completer(record)
    t0 = time.monotonic()
    for i in range(100):
        c.put(i)
    assert time.monotonic() - t0 < 0.5, "put() waited for recording"
    assert seen == []
    slow.set()
    c.sync()
    assert seen == list(range(100))
    c.stop()


def test_stop_records_what_is_still_queued():
    seen = []
    c = Completer(lambda i: (time.sleep(0.001), seen.append(i)))
    for i in range(50):
        c.put(i)
    c.stop()
    assert seen == list(range(50))


def test_a_failing_record_is_kept_and_the_rest_still_recorded(capsys):
    seen = []

    def record(i):
        if i == 3:
            raise OSError("disk full")
        seen.append(i)

    c = Completer(record)
    for i in range(6):
        c.put(i)
    c.sync()
    assert seen == [0, 1, 2, 4, 5]
    assert isinstance(c.error, OSError) and "disk full" in str(c.error)
    assert "could not record" in capsys.readouterr().err
    c.stop()
