"""Drive a Plan on an engine: tasks wired by futures, loops iteration by iteration, every
event journaled. The driver never blocks on work it does not need: all stages that do not
wait on a loop decision are submitted first (`plan/graph.unit_order`).

Engine-neutral: what Parsl does (executors, apps, retries, scheduler jobs) is behind
`engine.Engine` (`parsl/engine.py`); the driver never imports Parsl."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from typing import Any

from orchestrator.backends.bundling import Bundle, Bundler, Point
from orchestrator.backends.cache import TaskCache
from orchestrator.backends.completions import Completer
from orchestrator.backends.engine import Engine, Outcome
from orchestrator.backends.failures import failure_fields
from orchestrator.backends.loops import ConditionError, evaluate, record_decision
from orchestrator.backends.payload import TaskPayloads, narrow, upstream_parts
from orchestrator.backends.worker import read_legacy_result, record_of
from orchestrator.plan.graph import unit_order
from orchestrator.plan.model import Plan, StagePlan
from orchestrator.report.progress import Live
from orchestrator.spec.load import LoadedSpec
from orchestrator.state.journal import Journal
from orchestrator.state.results import StartTail
from orchestrator.state.rundir import RunDir
from orchestrator.state.states import TaskState


class Driver:
    """One execution (first attempt or resume) of a plan on an engine."""

    def __init__(self, plan: Plan, spec: LoadedSpec, rundir: RunDir, journal: Journal,
                 done_records: dict[str, dict[str, Any]], progress: Any, engine: Engine,
                 resuming: bool = False, payloads: TaskPayloads | None = None,
                 tries_before: dict[str, int] | None = None):
        self.plan = plan
        self.rundir = rundir
        self.journal = journal
        self.engine = engine
        self.cache = TaskCache(done_records, rundir, resuming, read_legacy_result)
        self.progress = progress
        self.payloads = payloads or TaskPayloads(plan, spec, rundir)  # shared memo
        self.handles: dict[str, Any] = {}  # task id -> future or finished record
        self.keys: dict[str, str] = {}
        self.stage_ids: dict[tuple[str, int | None], list[str]] = {}
        self.final_iteration: dict[str, int] = {}
        self.tries_before = tries_before or {}  # attempts earlier runs made (failures.py)
        self.states: dict[str, TaskState] = {}
        self.failed: list[dict[str, Any]] = []
        self.loop_info: dict[str, dict[str, Any]] = {}
        self.resuming = resuming
        self.outstanding = 0
        self.changed = threading.Event()
        self.lock = threading.Lock()
        self.completer: Completer | None = None  # started with the engine
        self.in_flight: dict[str, tuple[str, float]] = {}  # task id -> (stage, submitted at)
        self.start_tail = StartTail(rundir.path)  # workers' start lines (state/results.py)
        self.submit_lock = threading.RLock()  # bundles of `auto` stages launch from completions
        self.bundler = Bundler(self._launch_bundle, str(rundir.path))

    # ---- engine ---------------------------------------------------------------------------
    def start(self) -> None:
        self.engine.start()

    def shutdown(self) -> None:
        self.engine.shutdown(drain=self._drain)

    def _drain(self) -> None:
        if self.completer is not None:  # what the engine's shutdown completed too
            self.completer.stop()

    def _launch(self, stage: StagePlan, payload: dict[str, Any], handles: list[Any],
                retries: int | None = None) -> Any:
        with self.submit_lock:
            if self.completer is None:  # the engine starts with the first task that must run
                self.engine.load()
                self.completer = Completer(self._complete)
            return self.engine.submit(stage, payload, handles, retries)

    def _launch_bundle(self, stage: StagePlan, payload: dict[str, Any], handles: list[Any],
                       bundle: Bundle) -> None:
        fut = self._launch(stage, payload, handles)
        fut.add_done_callback(lambda f, b=bundle: self.completer.put(f, b))

    # ---- driving --------------------------------------------------------------------------
    def execute(self) -> Outcome:
        for unit in unit_order(self.plan):
            if unit in self.plan.loops:
                self._run_loop(unit)
            else:
                self._submit_stage(unit, None)
        self._wait_all()
        counts: dict[str, int] = {}
        for st in self.states.values():
            counts[st.value] = counts.get(st.value, 0) + 1
        bad = any(s in (TaskState.FAILED, TaskState.DEP_FAILED) for s in self.states.values())
        bad = bad or any(i.get("reason") == "failed" for i in self.loop_info.values())
        return Outcome("failed" if bad else "succeeded", counts, self.failed, self.loop_info)

    def _submit_stage(self, name: str, iteration: int | None) -> None:
        stage = self.plan.stages[name]
        parts, upstream_ids, missing = upstream_parts(self.plan, name, iteration,
                                                      self.stage_ids, self.final_iteration)
        matched = stage.matched_needs()
        shared = None if matched else self._wiring(parts)
        ids_out = []
        bundled = self.bundler.open(stage, shared is not None) if stage.bundle else None
        for task in stage.tasks:
            layout, handles, upstream_keys, feedback_keys = shared or self._wiring(
                narrow(parts, matched, task.index))
            payload = self.payloads.build(task, iteration, layout, upstream_keys, feedback_keys,
                                          upstream_ids)
            tid = payload["task_id"]
            if tid in self.tries_before:  # a resumed task's logs number on from earlier runs
                payload = {**payload, "attempt": self.tries_before[tid] + 1}
            ids_out.append(tid)
            self.keys[tid] = payload["key"]
            meta = {"task": tid, "stage": name, "key": payload["key"], "index": task.index,
                    "iteration": iteration, "loop": stage.loop}
            self.progress.add(name, 1)
            if missing:
                self._finish(tid, TaskState.DEP_FAILED, meta, None,
                             f"upstream stage(s) {', '.join(missing)} did not run")
                self.handles[tid] = _failed_future(f"{tid}: upstream did not run")
                continue
            cached = self.cache.lookup(payload, self.handles)
            if cached is not None:
                self.handles[tid] = cached
                self._finish(tid, TaskState.CACHED, meta, cached)
                continue
            if bundled is not None:  # launched with other points below (bundling.py)
                point = Point(payload, meta, handles)
                self.handles[tid] = point.future
                self._submitted(tid, name, meta)
                bundled.add(point)
                continue
            fut = self._launch(stage, payload, handles)
            self.handles[tid] = fut
            self._submitted(tid, name, meta)
            fut.add_done_callback(lambda f, m=meta: self._on_done(f, m))
        self.stage_ids[(name, iteration)] = ids_out
        if bundled is not None:
            bundled.close()

    def _submitted(self, tid: str, stage: str, meta: dict[str, Any]) -> None:
        with self.lock:
            self.states[tid] = TaskState.SUBMITTED
            self.outstanding += 1
        self.journal.append("task_submitted", **meta)
        with self.lock:
            self.in_flight[tid] = (stage, time.time())
        self.progress.submitted(stage)

    def _wiring(self, parts: list[tuple[str, list[str], str]]) -> tuple:
        """(layout, upstream handles, upstream keys, feedback keys) of a task's inputs."""
        layout = [[src, len(ids), role] for src, ids, role in parts]
        handles = [self.handles[i] for _, ids, _ in parts for i in ids]
        upstream = [self.keys[i] for _, ids, role in parts if role == "results" for i in ids]
        feedback = [self.keys[i] for _, ids, role in parts if role == "feedback" for i in ids]
        return layout, handles, upstream, feedback

    # ---- completions ----------------------------------------------------------------------
    def _on_done(self, fut: cf.Future, meta: dict[str, Any]) -> None:
        """The engine's callback: hand the completion to the completer thread. Parsl calls
        the callbacks of a future in order and ours came first, so journaling here would
        delay the launch of every task waiting on this one (the chain latency)."""
        self.completer.put(fut, meta)

    def _complete(self, fut: cf.Future, meta: dict[str, Any] | Bundle,
                  point: Point | None = None) -> None:
        """Record a finished task; `point`: a bundled point that ran alone (a retry, or its
        bundle could not run), whose own future is resolved here."""
        if isinstance(meta, Bundle):
            self._complete_bundle(fut, meta)
            return
        tid = meta["task"]
        failures = self.engine.failed_tries(fut) + (point.tries if point else 0)
        try:
            value = fut.result()
            record = record_of(value)
        except BaseException as exc:
            if point is not None:
                point.future.set_exception(exc)
            upstream = self.engine.upstream_failure(exc)
            if upstream is not None:
                self._finish(tid, TaskState.DEP_FAILED, meta, None, upstream)
            else:
                kind = getattr(exc, "type_name", None) or type(exc).__name__
                self._finish(tid, TaskState.FAILED, meta, None, f"{kind}: {exc}",
                             attempts=max(1, failures), ended_by=failure_fields(exc))
        else:
            if point is not None:
                point.future.set_result(value)
            self._finish(tid, TaskState.DONE, meta, record, attempts=failures + 1)
        finally:
            self._ended_one()

    def _ended_one(self) -> None:
        with self.lock:
            self.outstanding -= 1
            last = self.outstanding <= 0
        if last:  # waking the driver per task costs the callback thread the GIL
            self.changed.set()

    def _complete_bundle(self, fut: cf.Future, bundle: Bundle) -> None:
        """Record each point of a finished bundle. A point that failed is tried again alone
        while its stage's retries last; when the bundle itself could not run (a point's
        upstream task failed, its workers were lost past the retry budget) every point goes
        on alone, so each ends as it would have unbundled."""
        try:
            outs = fut.result()
        except BaseException:
            for p in bundle.points:
                self._alone(bundle.stage, p)
            self.bundler.measured(bundle, [])
            return
        seconds = []
        for p, out in zip(bundle.points, outs, strict=True):
            tid = p.meta["task"]
            if isinstance(out, BaseException):
                if p.tries < bundle.stage.retries:
                    p.tries += 1
                    self._alone(bundle.stage, p)
                    continue
                p.future.set_exception(out)
                kind = getattr(out, "type_name", None) or type(out).__name__
                self._finish(tid, TaskState.FAILED, p.meta, None, f"{kind}: {out}",
                             attempts=p.tries + 1, ended_by=failure_fields(out))
            else:
                p.future.set_result(out)
                record = record_of(out)
                self._finish(tid, TaskState.DONE, p.meta, record, attempts=p.tries + 1)
                started, ended = record.get("started"), record.get("ended")
                if isinstance(started, int | float) and isinstance(ended, int | float):
                    seconds.append(ended - started)
            p.payload, p.handles = {}, []  # (a million points: keep only what is needed)
            self._ended_one()
        self.bundler.measured(bundle, seconds)

    def _alone(self, stage: StagePlan, p: Point) -> None:
        """Launch one point of a bundle as a task of its own, with the tries it has left."""
        payload = p.payload
        if p.tries:
            payload = {**payload, "attempt": (payload.get("attempt") or 1) + p.tries}
        fut = self._launch(stage, payload, p.handles, retries=max(0, stage.retries - p.tries))
        fut.add_done_callback(lambda f, m=p.meta, pt=p: self.completer.put(f, m, pt))

    def _finish(self, tid: str, state: TaskState, meta: dict[str, Any],
                record: dict[str, Any] | None, error: str | None = None,
                attempts: int | None = None, ended_by: dict[str, Any] | None = None) -> None:
        """Journal how the task ended: `ended_by` says how a failed command ended (exit
        code, signal, stderr tail: failures.py); a shell stage that succeeded exited 0."""
        with self.lock:
            was_active = self.states.get(tid) is TaskState.SUBMITTED
            self.states[tid] = state
            self.in_flight.pop(tid, None)
        if state in (TaskState.DONE, TaskState.CACHED):
            assert record is not None
            self.journal.append(
                "task_done" if state is TaskState.DONE else "task_cached", **meta,
                result=record.get("result"), started=record.get("started"),
                ended=record.get("ended"), host=record.get("host"), pid=record.get("pid"),
                devices=record.get("devices"), attempts=attempts,
                **{k: record[k] for k in ("files", "inputs") if record.get(k)},
                **({"exit_code": 0} if self._runs_command(meta["stage"]) else {}))
        else:
            task_dir = self.rundir.task_dir(tid)
            info = {**meta, "error": error, **(ended_by or {}), "attempts": attempts,
                    "ended": time.time(), "stdout": str(task_dir / "stdout"),
                    "stderr": str(task_dir / "stderr")}
            self.journal.append("task_failed" if state is TaskState.FAILED
                                else "task_dep_failed", **info)
            if state is TaskState.FAILED:
                with self.lock:
                    self.failed.append(info)
        seconds = None
        if record is not None and state is TaskState.DONE:
            started, ended = record.get("started"), record.get("ended")
            if isinstance(started, int | float) and isinstance(ended, int | float):
                seconds = max(0.0, ended - started)
        self.progress.finished(meta["stage"], state, was_active, seconds)

    def _runs_command(self, stage: str) -> bool:
        """Shell stages and MPI launches have an exit code."""
        s = self.plan.stages[stage]
        return s.kind == "shell" or s.resources["ranks"] > 1

    # ---- what is in flight (the progress display) -----------------------------------------
    def live(self) -> Live:
        """Per stage: tasks waiting for what they need, queued (launched to an executor, not
        started) and running (their worker wrote a start line)."""
        starts = self.start_tail.poll()
        now = time.time()
        with self.lock:
            flying = list(self.in_flight.items())
        out = Live()
        counts: dict[str, list[int]] = {}
        for tid, (stage, since) in flying:
            c = counts.setdefault(stage, [0, 0, 0])
            start = starts.get(tid)
            t = start.get("t") if start else None
            if isinstance(t, int | float) and t >= since - 1.0:
                c[2] += 1
                out.running.setdefault(stage, []).append(max(0.0, now - t))
                continue
            c[0 if self.engine.waiting(self.handles.get(tid)) else 1] += 1
        out.counts = {k: (v[0], v[1], v[2]) for k, v in counts.items()}
        out.notes = self.engine.notes(now)
        return out

    # ---- loops ----------------------------------------------------------------------------
    def _run_loop(self, name: str) -> None:
        loop = self.plan.loops[name]
        order = [s for s in self.plan.stages if s in loop.stages]
        info: dict[str, Any] = {"iterations": 0, "reason": "max_iterations", "values": []}
        self.loop_info[name] = info
        for k in range(1, loop.max_iterations + 1):
            self.progress.iteration(name, k, loop.max_iterations)
            for s in order:
                self._submit_stage(s, k)
            self.final_iteration[name] = k
            info["iterations"] = k
            if loop.until is None:
                continue
            ids = self.stage_ids[(loop.until["stage"], k)]
            try:
                results = [self._result_of(i) for i in ids]
                if self.completer is not None:  # the decision is journaled after its inputs
                    self.completer.sync()
                value, met = evaluate(loop.until, results)
            except (ConditionError, _TaskDidNotFinish) as exc:
                info["reason"] = "failed"
                info["error"] = str(exc)
                self.journal.append("loop_finished", loop=name, iterations=k, reason="failed",
                                    error=str(exc))
                return
            info["values"].append(value)
            record_decision(self.journal, self.progress, name, k, loop.until, value, met)
            if met:
                info["reason"] = "condition"
                break
        self.journal.append("loop_finished", loop=name, iterations=info["iterations"],
                            reason=info["reason"])

    def _result_of(self, tid: str) -> Any:
        handle = self.handles[tid]
        if isinstance(handle, dict):
            return handle.get("result")
        while True:
            try:
                return record_of(handle.result(timeout=0.25))["result"]
            except cf.TimeoutError:
                self.progress.refresh()
                self.engine.tick()
            except BaseException as exc:
                raise _TaskDidNotFinish(f"{tid} did not finish: {exc}") from None

    # ---- the end --------------------------------------------------------------------------
    def _wait_all(self) -> None:
        """Wait for every submitted task (a counter and an event: no per-future waiters)."""
        while True:
            self._check_recording()
            with self.lock:
                if self.outstanding <= 0:
                    break
            self.changed.wait(timeout=0.25)  # set when the last task finishes
            self.changed.clear()
            self.progress.refresh()
            self.engine.tick()
        if self.completer is not None:  # the last record counts as done before it is checked
            self.completer.sync()
        self._check_recording()
        self.journal.flush()

    def _check_recording(self) -> None:
        """A completion the journal did not take fails the run (exit 70): never `succeeded`
        with a task missing from the journal."""
        if self.completer is not None and self.completer.error is not None:
            raise RuntimeError("recording task completions failed") from self.completer.error


class _TaskDidNotFinish(RuntimeError):
    pass


def _failed_future(message: str) -> cf.Future:
    fut: cf.Future = cf.Future()
    fut.set_exception(RuntimeError(message))
    return fut
