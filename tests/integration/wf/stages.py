"""Stage functions for the integration workflows."""

import time
from pathlib import Path


def once(i, marker):
    """Fails on the first attempt for i == 1, passes on retry."""
    m = Path(marker) / f"tried-{i}"
    if i == 1 and not m.exists():
        m.parent.mkdir(parents=True, exist_ok=True)
        m.write_text("x")
        raise RuntimeError("transient failure")
    return {"i": i}


def always():
    raise ValueError("this stage always fails")


def after(results=None):
    return {"n": len(results["always"])}


def independent(x):
    time.sleep(0.2)
    return {"x": x}


def train(iteration=None, feedback=None, context=None):
    it = context["iteration"]
    labelled = sum(len(v) for v in (feedback or {}).values())
    return {"iteration": it, "labelled": labelled}


def select(results=None, context=None):
    it = context["iteration"]
    return {"uncertain_fraction": 1.0 / (it * it), "iteration": it}


def label(results=None):
    return {"labels": 3}


def final(results=None):
    return {"selected": results["select"]}


def sleepy(i, seconds, context=None):
    time.sleep(seconds)
    return {"i": i, "square": i * i, "started": time.time()}


def total(results=None):
    return {"sum": sum(r["square"] for r in results["work"]), "n": len(results["work"])}
