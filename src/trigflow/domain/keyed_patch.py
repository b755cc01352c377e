"""Partial updates of keyed lists, shared by UpdateTriggerWorkflowPartially and UpdateTriggerTaskPartially.

Why one mechanism (api-notes Q12, §1.25): a partial update must not make the client resend whole lists, so
each list is a map from its items' natural key (a ParamKey, a TriggerId, an upstream TaskId, ...) to an item.
`FieldToRemoveList` names keys to delete, as `<Path>:<key1>,<key2>`; `NewSetting` items are upserted by key:
their fields over the stored item's, in place, new keys appended. Both actions follow the same rules, and every
refusal names the offending entry (`FieldToRemoveList.1 '...'`, `NewSetting.<list>.0.ParamKey`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from trigflow.domain.errors import InvalidParameterValue

REMOVALS_PATH = "FieldToRemoveList"
T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Removals(Generic[T]):
    """What `FieldToRemoveList` asks to delete: per list, key -> index of the entry that first named it."""

    entries: tuple[str, ...]
    keys: Mapping[T, Mapping[str, int]]

    def of(self, target: T) -> Mapping[str, int]:
        return self.keys.get(target, {})

    def entry(self, index: int) -> str:
        return f"{REMOVALS_PATH}.{index} {self.entries[index]!r}"


def parse_removals(
    entries: Sequence[str],
    targets: Mapping[str, T],
    key_fields: Mapping[T, str],
    *,
    form: str,
    ignored: frozenset[str] = frozenset(),
) -> Removals[T]:
    """Parse `<Path>:<key1>,<key2>` entries against the known paths (`targets`: path -> list).

    Whitespace around the path, each `/` of it, the colon and each key is ignored (the workflow variant's
    documented example writes `"TriggerWorkflowSchedulerConfigurations :<id>"`). Paths in `ignored` are
    documented but have nothing to remove here: skipped. A missing colon (`form` shows the expected shape),
    an unknown path or an empty key is refused, naming the entry. A key named twice is removed once.
    """
    keys: dict[T, dict[str, int]] = {}
    for i, raw in enumerate(entries):
        where = f"{REMOVALS_PATH}.{i} {raw!r}"
        path, colon, rest = raw.partition(":")
        path = "/".join(part.strip() for part in path.split("/"))
        if not colon:
            raise InvalidParameterValue(f"{where} must look like {form}")
        if path in ignored:
            continue
        target = targets.get(path)
        if target is None:
            raise InvalidParameterValue(f"{where}: unknown path {path!r}; supported: {', '.join(targets)}")
        names = [k.strip() for k in rest.split(",")]
        if not all(names):
            raise InvalidParameterValue(f"{where} names an empty {key_fields[target]}")
        for name in names:
            keys.setdefault(target, {}).setdefault(name, i)
    return Removals(tuple(entries), keys)


@dataclass(frozen=True)
class Patched:
    """A list after the patch; `origins[n]` is the NewSetting index item n came from (None: kept as stored)."""

    items: list[dict[str, Any]]
    origins: list[int | None]


def patch_list(
    stored: Sequence[Mapping[str, Any]],
    sent: Sequence[Mapping[str, Any]] | None,
    key: str,
    removed: Mapping[str, int],
    removals: Removals[Any],
    *,
    sent_path: str,
    what: str,
    keyless_adds: bool = False,
    existing_only: bool = False,
) -> Patched:
    """Apply the removals, then upsert the sent items by `key`.

    Removing a key the list does not hold, sending a key twice, or both removing and sending one is refused
    (the patch would contradict itself). A sent item without a key is refused unless `keyless_adds` (a new
    trigger gets its TriggerId on save); with `existing_only`, a sent key must already be in the list (an
    edit of a trigger that is not there is a mistake, not an addition).
    """
    present = {item.get(key) for item in stored}
    for name, index in removed.items():
        if name not in present:
            raise InvalidParameterValue(f"{removals.entry(index)}: {what} has no item with {key} {name!r}")
    items = [dict(item) for item in stored if item.get(key) not in removed]
    origins: list[int | None] = [None] * len(items)
    position = {item[key]: n for n, item in enumerate(items) if item.get(key)}
    seen: dict[Any, int] = {}
    for i, item in enumerate(sent or []):
        value = item.get(key)
        where = f"{sent_path}.{i}.{key}"
        if not value:
            if not keyless_adds:
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
        elif existing_only:
            raise InvalidParameterValue(f"{where} {value!r} is not in {what}; omit it to add one")
        else:
            position[value] = len(items)
            items.append(dict(item))
            origins.append(i)
    return Patched(items, origins)
