"""A For-each node's loop as the engine keeps it (tasktypes/foreach.py; the window and policy: domain/loops.py).

Two things live here, apart from the execution machine that only asks "which iterations start now?":

* resolving `loopDataArray` when the node starts: a JSON array literal as written, or one `${name}` reference
  resolved with the values an attempt of the node would see (the run's parameters, time expressions, its
  `ParamTaskInList` inputs from upstream outputs). The text is only ever parsed as JSON, never pasted into code;
  each element reaches the body's tasks as the data parameter `dag.foreach.current` of its child run;
* the loop's persisted progress, which is what makes a restart lose and duplicate nothing: every child run is
  created in the same transaction as the node's TaskTypeExtensions listing it (`loopChildRunIds`, in offset
  order: the iterations ever started are a prefix, domain/loops.py), so after a crash the list names exactly
  the child runs that exist; their rows say which ended and how, the running ones are adopted like any live run,
  and the rest start. The elements are resolved again from the same stored inputs (the run's parameters, the
  upstream outputs persisted in the run, the run's baseline time); a count that no longer matches the recorded
  `loopTimes` fails the node rather than guess which element is which.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trigflow.domain.errors import ApiError
from trigflow.domain.loops import REFERENCE_RE, Iteration, Loop, element_text, iteration_states, parse_array
from trigflow.domain.params import ExpansionTooLarge, Substitution, baseline_for, merge_params, resolve_inputs
from trigflow.domain.states import RUN_TERMINAL, RunState
from trigflow.service.attempt_params import DEFAULT_TZ, ParamLimits, data_names
from trigflow.tasktypes import spec as run_spec
from trigflow.tasktypes.foreach import DATA_ARRAY, MAX_TIMES, ForEachNode, LoopSettings, settings_of

# TaskTypeExtensions keys of a running or ended For-each task run (all strings, as the wire's map is)
TIMES = "loopTimes"  # the number of elements
STARTED = "loopStartedTimes"
SUCCEEDED = "loopSuccessTimes"
FAILED = "loopFailedTimes"
CHILD_RUNS = "loopChildRunIds"  # JSON array of the iterations' child run ids, by offset
HALTED = "loopHalted"  # why no more iterations start (a child run could not be created)
PROGRESS_KEYS = (TIMES, STARTED, SUCCEEDED, FAILED, CHILD_RUNS, HALTED)

BAD_ARRAY = "ForEachBadArray"
TOO_MANY = "ForEachTooManyElements"
LOOP_FAILED = "ForEachFailed"
LOOP_LOST = "ForEachStateLost"

__all__ = ["LoopRefused", "LoopRun", "base_extensions", "prepare"]


class LoopRefused(Exception):
    """The loop cannot run; `message` is the node's ErrorCodeStr (it names the key, never a value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def prepare(
    row: Mapping[str, Any], outputs_by_task: Mapping[str, Mapping[str, str]], limits: ParamLimits
) -> tuple[LoopSettings, list[str]]:
    """The node's frozen settings and the elements it loops over, as `dag.foreach.current` texts."""
    try:
        settings = settings_of(row["spec"])
    except (ValueError, KeyError, TypeError):
        raise LoopRefused(f"{BAD_ARRAY}: this task run froze no loop settings") from None
    text = settings.data_array
    where = DATA_ARRAY
    if REFERENCE_RE.match(text) is not None:
        where = f"{DATA_ARRAY} {text.strip()}"
        text = _resolve_reference(row, outputs_by_task, limits, text.strip(), where)
    try:
        elements = parse_array(text)
    except ValueError as e:
        raise LoopRefused(f"{BAD_ARRAY}: {where} {e}") from None
    if len(elements) > settings.max_times:
        raise LoopRefused(
            f"{TOO_MANY}: {where} has {len(elements)} elements, more than {MAX_TIMES} {settings.max_times}; "
            "no iteration was started"
        )
    texts = [element_text(e) for e in elements]
    for offset, value in enumerate(texts):
        if len(value) > limits.max_param_chars:
            raise LoopRefused(
                f"ParameterTooLarge: element {offset} of {where} is {len(value)} characters long; the limit is "
                f"{limits.max_param_chars} (trigflow up --max-param-size)"
            )
    return settings, texts


def _resolve_reference(
    row: Mapping[str, Any],
    outputs_by_task: Mapping[str, Mapping[str, str]],
    limits: ParamLimits,
    reference: str,
    where: str,
) -> str:
    spec = row["spec"]
    try:
        inputs, _ = resolve_inputs(run_spec.inputs(spec), outputs_by_task)
        stored = json.loads(row["run_params"])
        merged = merge_params(stored, inputs)
        baseline = baseline_for(row["schedule_ms"], row["timezone"] or DEFAULT_TZ)
        sub = Substitution(merged, baseline, data=data_names(spec, stored, inputs), limit=limits.max_expanded_chars)
        resolved = sub.text(reference)
    except ApiError as e:  # e.g. a time zone the server no longer knows
        raise LoopRefused(f"{BAD_ARRAY}: {where}: {e.message}") from None
    except ExpansionTooLarge as e:
        raise LoopRefused(
            f"{BAD_ARRAY}: {where} would expand to more than {e.limit} characters (trigflow up --max-expanded-size)"
        ) from None
    if sub.warnings and resolved == reference:
        raise LoopRefused(f"{BAD_ARRAY}: {where} names no parameter, input or time expression of this task")
    return resolved


def base_extensions(text: str | None) -> dict[str, str]:
    """A For-each task run's TaskTypeExtensions without the progress keys (what its version froze)."""
    ext = json.loads(text or "{}")
    return {k: v for k, v in ext.items() if k not in PROGRESS_KEYS}


@dataclass
class LoopRun:
    """One attempt of a For-each node: the window, the elements and the child run of each started offset."""

    loop: Loop
    elements: list[str]
    base: dict[str, str]
    children: list[str] = field(default_factory=list)  # child run ids by offset (a prefix: started ones)
    _offsets: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def fresh(cls, settings: LoopSettings, elements: Sequence[str], extensions: str | None) -> LoopRun:
        loop = Loop.fresh(len(elements), settings.concurrency, settings.policy)
        return cls(loop, list(elements), base_extensions(extensions))

    @classmethod
    def rebuild(
        cls,
        settings: LoopSettings,
        elements: Sequence[str],
        extensions: str | None,
        states: Mapping[str, str],
    ) -> LoopRun:
        """The loop of a RUNNING node found in the database (a restart), from its TaskTypeExtensions and the
        states of the child runs it lists (`states` by run id; a missing child counts as failed)."""
        ext = json.loads(extensions or "{}")
        recorded = ext.get(TIMES)
        if recorded is not None and int(recorded) != len(elements):
            raise LoopRefused(
                f"{LOOP_LOST}: {DATA_ARRAY} now has {len(elements)} elements, the loop started with {recorded}"
            )
        children = cls.recorded_children(extensions)
        if len(children) > len(elements):
            raise LoopRefused(f"{LOOP_LOST}: {len(children)} child runs recorded for {len(elements)} elements")
        seen: list[bool | None] = []
        for child in children:
            state = states.get(child, RunState.FAILED.value)
            seen.append(state == RunState.SUCCESS.value if state in RUN_TERMINAL else None)
        loop = Loop(settings.concurrency, settings.policy, iteration_states(seen, len(elements)),
                    halted=ext.get(HALTED) or None)  # fmt: skip
        run = cls(loop, list(elements), base_extensions(extensions), children)
        run._offsets = {c: i for i, c in enumerate(children)}
        return run

    @staticmethod
    def recorded_children(extensions: str | None) -> list[str]:
        """The child run ids a For-each task run's TaskTypeExtensions lists, by offset."""
        return [str(c) for c in json.loads(json.loads(extensions or "{}").get(CHILD_RUNS) or "[]")]

    def begin(self, offset: int, child_id: str) -> None:
        self.loop.begin(offset)
        self.children.append(child_id)
        self._offsets[child_id] = offset

    def end(self, child_id: str, state: RunState) -> bool:
        """A child run ended; False when it is not a running iteration of this attempt."""
        offset = self._offsets.get(child_id)
        return offset is not None and self.loop.end(offset, state == RunState.SUCCESS)

    def running_children(self) -> list[str]:
        return [c for i, c in enumerate(self.children) if self.loop.states[i] is Iteration.RUNNING]

    def progress(self) -> dict[str, str]:
        loop = self.loop
        values = {
            TIMES: str(loop.total),
            STARTED: str(loop.started),
            SUCCEEDED: str(loop.count(Iteration.SUCCESS)),
            FAILED: str(loop.count(Iteration.FAILED)),
            CHILD_RUNS: json.dumps(self.children, separators=(",", ":")),
        }
        if loop.halted is not None:
            values[HALTED] = loop.halted
        return values

    def extensions(self) -> str:
        return ForEachNode.progress_extensions(self.base, self.progress())

    def failure(self) -> str:
        """The ErrorCodeStr of a loop that ended FAILED: how many failed, which offsets, which child runs."""
        loop = self.loop
        if loop.halted is not None:
            return loop.halted
        failed = loop.failed_offsets()
        shown = ", ".join(f"{i} (run {self.children[i]})" for i in failed[:5]) + (" ..." if len(failed) > 5 else "")
        unstarted = loop.total - loop.started
        rest = f"; {unstarted} not started ({loop.policy.value})" if unstarted else ""
        return f"{LOOP_FAILED}: {len(failed)} of {loop.total} iterations failed, offsets {shown}{rest}"
