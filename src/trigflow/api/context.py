"""What a handler gets besides its parameters: the caller, the services, and the request's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trigflow.service.common import Caller

if TYPE_CHECKING:
    from trigflow.app import Services


@dataclass(frozen=True)
class RequestContext:
    caller: Caller
    services: Services
    request_id: str
    language: str = "zh-CN"
    region: str = ""
