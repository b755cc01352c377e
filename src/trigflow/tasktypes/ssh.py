"""SSH (133, "SSH节点"): the task's bash script on the host of an SSH data source, run by `trigflow run-attempt`.

Labels (enums.md §2): TaskTypeDesc `SSH节点`, console category GENERAL; no design-side or run-side code has
been observed for 133, so `SSH` is inferred (the upper-case name, as for the other inferred codes).

The type declares one data source, `TriggerTaskConfiguration.SourceServiceId`, of type SSH (required,
single): the task service refuses a missing, unknown or wrong-typed id at save with `InvalidParameterValue`
naming the field (service/datasources.py `check_uses`).

Parameters are placed as for Shell (the script is bash, only remote): the code is the Shell dialect's
rendering, where a data value (upstream output, run-time parameter) is a `${TRIGFLOW_VALUE_<n>}` /
`${TRIGFLOW_PARAM_<name>}` reference, never text. The values reach the remote host as data: this type puts
every variable the remote script gets into the workload's `config.env` (JSON), and the runner writes them
as `$'...'`-quoted assignments into a `BASH_ENV` file there (domain/ssh_remote.py). The remote script gets
what a local shell task gets of trigflow's own: `TRIGFLOW_PARAM_<name>` for every parameter, the
`TRIGFLOW_VALUE_<n>` its code references, `TRIGFLOW_RUN_PARAMS`, the run's ids, and `$WEDATA_OUTPUT_FILE`
(a remote file, copied back). The rest of its environment is the remote login's, not the worker's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trigflow.domain.code_quoting import SHELL_DIALECT
from trigflow.domain.datasources import SourceUse
from trigflow.domain.task_env import RUN_PARAMS_ENV, param_env_name
from trigflow.runner import base as wl
from trigflow.tasktypes.base import Labels
from trigflow.tasktypes.process import Attempt, RunnerTask

KIND = "SSH"
CONFIG_ENV = "env"  # trigflow.runner.ssh reads this key of the workload's config
# trigflow's own variables a local task gets, copied to the remote script (the outputs file is the remote one;
# a parameters file is a local path, so the remote script gets TRIGFLOW_RUN_PARAMS whatever its size).
_RUN_IDS = ("TRIGFLOW_PROJECT_ID", "TRIGFLOW_WORKFLOW_ID", "TRIGFLOW_WORKFLOW_EXECUTION_ID", "TRIGFLOW_TASK_ID",
            "TRIGFLOW_TASK_EXECUTION_ID")  # fmt: skip


def remote_env(attempt: Attempt) -> dict[str, str]:
    """The variables of the remote script, in the order they are given room in its environment: the run's
    ids, the parameters, the values the code references, then all parameters as JSON."""
    env = {k: attempt.env[k] for k in _RUN_IDS if k in attempt.env}
    for name, value in attempt.params.items():
        var = param_env_name(name)
        if var is not None:
            env[var] = value
    env.update(attempt.variables)
    env[RUN_PARAMS_ENV] = json.dumps(dict(attempt.params), ensure_ascii=False, separators=(",", ":"))
    return env


class SshTask(RunnerTask):
    dialect = SHELL_DIALECT
    code_suffix = ".sh"
    sources = (SourceUse("SourceServiceId", ("SSH",), required=True, single=True),)

    def workload(self, spec: Mapping[str, Any], attempt: Attempt) -> dict[str, Any]:
        doc = super().workload(spec, attempt)
        # Always set, so a TaskExtConfigurationList key of the same name cannot feed the remote environment.
        doc[wl.KEY_CONFIG][CONFIG_ENV] = json.dumps(remote_env(attempt), ensure_ascii=False, separators=(",", ":"))
        return doc


SSH = SshTask(Labels(133, design=KIND, desc="SSH节点", category="GENERAL"), KIND)
