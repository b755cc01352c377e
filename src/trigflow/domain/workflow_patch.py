"""UpdateTriggerWorkflowPartially as plain functions: read `FieldToRemoveList`, merge list items by key.

Why a patch needs its own rules (api-notes Q12): a partial update must not make the client resend whole
lists, so each list of a workflow is treated as a map from a natural key to an item. `NewSetting` items
are upserted by that key (their fields over the stored item's, in place; new keys appended), and the
only way to delete an item is to name it in `FieldToRemoveList` as `<Collection>:<key>[,<key>...]`.

Refusals name the offending entry (`FieldToRemoveList.1`, `NewSetting.WorkflowParams.0.ParamKey`), so a
client can see which of its items was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trigflow.domain.errors import InvalidParameterValue

PARAMS = "WorkflowParams"
TRIGGERS = "TriggerWorkflowSchedulerConfigurations"
GENERAL = "GeneralTaskParams"

# Collection -> the field that identifies one of its items.
COLLECTION_KEYS: Mapping[str, str] = {PARAMS: "ParamKey", TRIGGERS: "TriggerId", GENERAL: "Type"}

REMOVALS_PATH = "FieldToRemoveList"


@dataclass(frozen=True)
class Removals:
    """What `FieldToRemoveList` asks to delete: per collection, key -> index of the entry that named it."""

    entries: tuple[str, ...]
    keys: Mapping[str, Mapping[str, int]]

    def of(self, collection: str) -> Mapping[str, int]:
        return self.keys.get(collection, {})

    def entry(self, index: int) -> str:
        return f"{REMOVALS_PATH}.{index} {self.entries[index]!r}"


@dataclass(frozen=True)
class Patched:
    """A collection after the patch; `origins[n]` is the NewSetting index item n came from (None: kept as stored)."""

    items: list[dict[str, Any]]
    origins: list[int | None]


def parse_workflow_removals(entries: Sequence[str]) -> Removals:
    """Parse `FieldToRemoveList` entries such as `WorkflowParams:k1,k2` or `GeneralTaskParams:SPARK_SQL`.

    Whitespace around the collection and the keys is ignored (the official example writes
    `"TriggerWorkflowSchedulerConfigurations :<id>"`). An entry without `:`, with an unknown collection or
    with an empty key is refused, naming the entry.
    """
    keys: dict[str, dict[str, int]] = {}
    for i, raw in enumerate(entries):
        where = f"{REMOVALS_PATH}.{i} {raw!r}"
        collection, colon, rest = raw.partition(":")
        collection = collection.strip()
        if not colon:
            raise InvalidParameterValue(f"{where} must look like <Collection>:<key>[,<key>...]")
        if collection not in COLLECTION_KEYS:
            supported = ", ".join(COLLECTION_KEYS)
            raise InvalidParameterValue(f"{where}: unknown collection {collection!r}; supported: {supported}")
        names = [k.strip() for k in rest.split(",")]
        if not all(names):
            raise InvalidParameterValue(f"{where} names an empty {COLLECTION_KEYS[collection]}")
        for name in names:
            keys.setdefault(collection, {}).setdefault(name, i)
    return Removals(tuple(entries), keys)


def patch_collection(
    collection: str,
    stored: Sequence[Mapping[str, Any]],
    sent: Sequence[Mapping[str, Any]] | None,
    removals: Removals,
    *,
    sent_path: str,
) -> Patched:
    """Apply removals, then upsert the sent items by the collection's key.

    A key that is both removed and sent is refused (the patch would contradict itself). A sent trigger
    without a TriggerId is a new trigger; one with an unknown TriggerId is refused, because the client
    meant to edit a trigger that is not there. Parameters with a new key are appended.
    """
    key = COLLECTION_KEYS[collection]
    removed = removals.of(collection)
    present = {item.get(key) for item in stored}
    for name, index in removed.items():
        if name not in present:
            raise InvalidParameterValue(f"{removals.entry(index)}: {collection} has no item with {key} {name!r}")
    items = [dict(item) for item in stored if item.get(key) not in removed]
    origins: list[int | None] = [None] * len(items)
    position = {item[key]: n for n, item in enumerate(items) if item.get(key)}
    seen: dict[str, int] = {}
    for i, item in enumerate(sent or []):
        value = item.get(key)
        where = f"{sent_path}.{i}.{key}"
        if not value:
            if collection != TRIGGERS:
                raise InvalidParameterValue(f"{where} must be a non-empty string")
            items.append(dict(item))
            origins.append(i)
            continue
        if value in seen:
            raise InvalidParameterValue(f"{where} {value!r} is duplicated ({sent_path}.{seen[value]})")
        seen[value] = i
        if value in removed:
            raise InvalidParameterValue(f"{where} {value!r} is also removed by {removals.entry(removed[value])}")
        if value in position:
            n = position[value]
            items[n] = {**items[n], **item}
            origins[n] = i
        elif collection == TRIGGERS:
            raise InvalidParameterValue(f"{where} {value!r} is not a trigger of this workflow; omit it to add one")
        else:
            position[value] = len(items)
            items.append(dict(item))
            origins.append(i)
    return Patched(items, origins)
