"""UpdateTriggerWorkflowPartially's lists: which ones can be patched, and by which key (domain/keyed_patch.py).

A workflow's parameters are keyed by ParamKey, its trigger configurations by TriggerId and its general
task parameters by Type. `FieldToRemoveList` entries name them as `<Collection>:<key>[,<key>...]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trigflow.domain.keyed_patch import Patched, Removals, parse_removals, patch_list

PARAMS = "WorkflowParams"
TRIGGERS = "TriggerWorkflowSchedulerConfigurations"
GENERAL = "GeneralTaskParams"

# Collection -> the field that identifies one of its items.
COLLECTION_KEYS: Mapping[str, str] = {PARAMS: "ParamKey", TRIGGERS: "TriggerId", GENERAL: "Type"}


def parse_workflow_removals(entries: Sequence[str]) -> Removals[str]:
    """Parse `FieldToRemoveList` entries such as `WorkflowParams:k1,k2` or `GeneralTaskParams:SPARK_SQL`."""
    return parse_removals(
        entries, {c: c for c in COLLECTION_KEYS}, COLLECTION_KEYS, form="<Collection>:<key>[,<key>...]"
    )


def patch_collection(
    collection: str,
    stored: Sequence[Mapping[str, Any]],
    sent: Sequence[Mapping[str, Any]] | None,
    removals: Removals[str],
    *,
    sent_path: str,
) -> Patched:
    """Apply removals, then upsert the sent items by the collection's key.

    A sent trigger without a TriggerId is a new trigger (it gets its id on save); one with an unknown
    TriggerId is refused, because the client meant to edit a trigger that is not there.
    """
    return patch_list(
        stored,
        sent,
        COLLECTION_KEYS[collection],
        removals.of(collection),
        removals,
        sent_path=sent_path,
        what=f"{collection} of this workflow",
        keyless_adds=collection == TRIGGERS,
        existing_only=collection == TRIGGERS,
    )
