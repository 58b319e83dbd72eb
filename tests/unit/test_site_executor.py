"""`executor: threads` on a site pool: validated, and built as Parsl's ThreadPoolExecutor."""

from __future__ import annotations

import pytest

from orchestrator.errors import UserError
from orchestrator.site.load import load_site

BASE = """\
apiVersion: orchestrator/v1
kind: site
name: t
scheduler: {scheduler}
pools:
  cpu:
    device: {device}
    {extra}
    executor: {executor}
"""


def _site(tmp_path, scheduler="local", device="cpu", executor="threads", extra=""):
    path = tmp_path / "site.yaml"
    path.write_text(BASE.format(scheduler=scheduler, device=device, executor=executor,
                                extra=extra or "cores_per_node: 2"))
    return load_site(str(path))


def test_threads_pool_is_accepted_and_htex_is_the_default(tmp_path):
    assert _site(tmp_path).site.pools["cpu"].executor == "threads"
    assert load_site("laptop").site.pools["cpu"].executor == "processes"
    assert load_site("local-slurm").site.pools["cpu"].executor == "htex"


@pytest.mark.parametrize("kwargs, message", [
    ({"scheduler": "slurm"}, "only on a local site"),
    ({"device": "gpu", "extra": "accelerators_per_node: 1"}, "cpu pools only"),
    ({"executor": "forks"}, "executor"),
    ({"executor": "processes", "scheduler": "slurm"}, "only on a local site"),
])
def test_threads_pool_errors_are_located(tmp_path, kwargs, message):
    with pytest.raises(UserError) as err:
        _site(tmp_path, **kwargs)
    text = "\n".join(d.format() for d in err.value.diagnostics)
    assert message in text and "site.yaml:" in text


def test_threads_pool_becomes_a_thread_pool_executor(tmp_path):
    from parsl.executors import ThreadPoolExecutor

    from orchestrator.backends.parsl.executors import make_executor

    ex = make_executor(_site(tmp_path).site, "cpu", tmp_path)
    assert isinstance(ex, ThreadPoolExecutor) and ex.max_threads == 2
