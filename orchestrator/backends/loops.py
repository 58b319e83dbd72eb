"""Loop conditions: data (`metric op value`), evaluated on returned results, never as code."""

from __future__ import annotations

import operator
import statistics
from typing import Any

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "!=": operator.ne}


class ConditionError(ValueError):
    """A stage's results do not carry the metric a loop condition needs."""


def metric_of(result: Any, path: str) -> Any:
    value = result
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise ConditionError(f"result has no metric {path!r} (got {_preview(result)})")
    return value


def evaluate(until: dict[str, Any], results: list[Any]) -> tuple[float | bool, bool]:
    """(reduced value, condition met) for the results of one iteration's until-stage."""
    values = [metric_of(r, until["metric"]) for r in results]
    if not values:
        raise ConditionError("the until-stage returned no results")
    op = _OPS[until["op"]]
    threshold = until["value"]
    reduce = until.get("reduce", "max")
    if reduce in ("all", "any"):
        checks = [op(_number(v), threshold) for v in values]
        met = all(checks) if reduce == "all" else any(checks)
        return met, met
    numbers = [_number(v) for v in values]
    reduced = {"max": max, "min": min, "mean": statistics.fmean}[reduce](numbers)
    return reduced, bool(op(reduced, threshold))


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConditionError(f"metric value {v!r} is not a number")
    return float(v)


def _preview(result: Any) -> str:
    text = repr(result)
    return text if len(text) < 80 else text[:77] + "..."


def record_decision(journal: Any, progress: Any, loop: str, iteration: int,
                    until: dict[str, Any], value: Any, met: bool) -> None:
    """Journal and show one iteration's condition check."""
    journal.append("loop_iteration", loop=loop, iteration=iteration, stage=until["stage"],
                   metric=until["metric"], reduce=until.get("reduce", "max"), value=value,
                   op=until["op"], threshold=until["value"], met=met)
    progress.note(f"loop {loop}: iteration {iteration}: {until['metric']} = {value} "
                  f"({'met' if met else 'not met'})")
