"""Pure rules for editing task definitions: keyed lists, FieldToRemoveList entries, owners, type categories.

Why a module of its own: UpdateTriggerTaskPartially merges a patch into a stored definition, and the
merge has to be predictable without a database (api-notes Q12, §1.25). Lists of a task definition
have a natural key (a parameter's `ParamKey`, an upstream's `TaskId`, a table's `TablePhysicalId`): the
patch itself follows domain/keyed_patch.py, as workflows' do; this module says which lists and paths.
Everything here is plain data in, plain data out, and refusals are `InvalidParameterValue` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trigflow.domain.errors import InvalidParameterValue
from trigflow.domain.keyed_patch import Removals, parse_removals

CONFIG = "TriggerTaskConfiguration"
SCHEDULER = "TriggerTaskSchedulerConfiguration"

# (section of the definition, list field) -> natural key of its items (api-notes Q12).
LIST_KEYS: dict[tuple[str, str], str] = {
    (CONFIG, "TaskExtConfigurationList"): "ParamKey",
    (CONFIG, "TaskSchedulingParameterList"): "ParamKey",
    (SCHEDULER, "UpstreamDependencyConfigList"): "TaskId",
    (SCHEDULER, "ParamTaskOutList"): "ParamKey",
    (SCHEDULER, "ParamTaskInList"): "ParamKey",
    (SCHEDULER, "TaskOutputRegistryList"): "TablePhysicalId",
}

# FieldToRemoveList paths (api-notes §1.25): the documented prefixes are `TaskConfiguration/` and
# `TaskSchedulerConfiguration/`, not the request's `Trigger...` model names.
REMOVAL_PATHS: dict[str, tuple[str, str]] = {
    "TaskConfiguration/TaskSchedulingParameterList": (CONFIG, "TaskSchedulingParameterList"),
    "TaskSchedulerConfiguration/UpstreamDependencyConfigList": (SCHEDULER, "UpstreamDependencyConfigList"),
    "TaskSchedulerConfiguration/ParamTaskOutList": (SCHEDULER, "ParamTaskOutList"),
    "TaskSchedulerConfiguration/ParamTaskInList": (SCHEDULER, "ParamTaskInList"),
    "TaskSchedulerConfiguration/TaskOutputRegistryList": (SCHEDULER, "TaskOutputRegistryList"),
}
# Documented paths inherited from the periodic-task API with no counterpart in trigger tasks: accepted
# and ignored, so a script written against the documentation does not fail.
IGNORED_REMOVAL_PATHS = frozenset(
    {
        "TaskSchedulerConfiguration/DownStreamDependencyConfigList",
        "TaskSchedulerConfiguration/EventListenerList",
    }
)


FORM = "<Path>:<key1>,<key2>, e.g. 'TaskSchedulerConfiguration/UpstreamDependencyConfigList:20251121175713839'"


def parse_task_removals(entries: Sequence[str]) -> Removals[tuple[str, str]]:
    """`FieldToRemoveList` of UpdateTriggerTaskPartially: keys to delete per (section, list field)."""
    return parse_removals(entries, REMOVAL_PATHS, LIST_KEYS, form=FORM, ignored=IGNORED_REMOVAL_PATHS)


def check_unique_keys(items: Sequence[Mapping[str, Any]], key_field: str, path: str) -> None:
    """Refuse a keyed list that names one key twice: upserts and removals by key need unique keys."""
    seen: set[Any] = set()
    for i, item in enumerate(items):
        key = item.get(key_field)
        if key in seen:
            raise InvalidParameterValue(f"{path}.{i}.{key_field} {key!r} appears more than once in {path}")
        seen.add(key)


# --- owners ----------------------------------------------------------------------------------------

OWNER_SEPARATOR = ";"  # WeData stores several owners as one string, e.g. "100029411056;100042282926"


def join_owners(owners: Sequence[str], path: str) -> str:
    """Several owner UINs as the one owner string WeData keeps (`;`-joined, order kept, duplicates dropped)."""
    clean: list[str] = []
    for i, owner in enumerate(owners):
        uin = owner.strip()
        if not uin:
            raise InvalidParameterValue(f"{path}.{i} must be a non-empty owner UIN")
        if OWNER_SEPARATOR in uin:
            raise InvalidParameterValue(f"{path}.{i} {owner!r} must be one UIN; list several owners as separate items")
        if uin not in clean:
            clean.append(uin)
    if not clean:
        raise InvalidParameterValue(f"{path} must hold at least one owner UIN")
    return OWNER_SEPARATOR.join(clean)


# --- task type categories (ListTriggerTasks.TaskNodeTypeList, enums.md §2.1) -------------------------

# The console's node categories; the real mapping is unpublished, so this one is read off the type table
# (enums.md §2): GENERAL, DLC and ETL as inferred there, the rest by each type's engine.
NODE_CATEGORIES: dict[str, frozenset[int]] = {
    "ETL": frozenset({20, 25, 26}),
    "EMR": frozenset({31, 33, 34, 36, 39, 70, 92}),
    "DLC": frozenset({32, 46, 50, 139}),
    "SETATS": frozenset({138}),
    "TDSQL": frozenset({21, 23}),
    "TCHOUSE": frozenset({40, 42, 43, 134}),
    "GENERAL": frozenset({30, 35, 38, 130, 131, 132, 133, 137, 140}),
    "DATA_QUALITY": frozenset(),
    "INDICATOR": frozenset(),
    "TI_ONE": frozenset({47}),
}


def category_type_ids(categories: Sequence[str], path: str) -> set[int]:
    """The task type IDs the named categories stand for; an unknown category is refused by index."""
    ids: set[int] = set()
    for i, name in enumerate(categories):
        members = NODE_CATEGORIES.get(name.strip().upper())
        if members is None:
            raise InvalidParameterValue(
                f"{path}.{i} {name!r} is not a node category; use one of {', '.join(NODE_CATEGORIES)}"
            )
        ids |= members
    return ids
