"""Signed calls through the official SDK (`tencentcloud-sdk-python-common` + `-wedata`).

The SDK does TC3 signing, the wire and the response models exactly as tccli and every SDK user do, so
the client cannot drift from the protocol the server is tested against. Every failure of a call —
an error the server answered, a network error, an unreadable response — comes out as `ApiError`
with a Tencent Cloud style code.
"""

from __future__ import annotations

import json
from typing import Any

from trigflow.client.profile import ClientConfig

# Codes the SDK raises itself when no Tencent Cloud answer was read: the server is not reachable (or
# answered something other than the API), as opposed to an error it answered.
NETWORK_CODES = frozenset({"ClientNetworkError", "ServerNetworkError", "ConnectionError", "ReadTimeout",
                           "ConnectTimeout", "SSLError", "JSONDecodeError"})  # fmt: skip


class ApiError(Exception):
    """`Code: message` of a failed call; `network` when no API answer was read."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def network(self) -> bool:
        return self.code in NETWORK_CODES


class Api:
    """One WedataClient for the resolved profile; `call` takes and returns plain actions and models."""

    def __init__(self, config: ClientConfig, *, timeout: int = 60) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.wedata.v20250806 import wedata_client

        self.config = config
        http = HttpProfile(endpoint=config.endpoint.host, protocol=config.endpoint.protocol, reqTimeout=timeout,
                           certification=config.ca_bundle)  # fmt: skip
        self._client = wedata_client.WedataClient(
            credential.Credential(config.secret_id, config.secret_key), config.region, ClientProfile(httpProfile=http)
        )
        self._project_id = config.project_id

    def call(self, action: str, params: dict[str, Any]) -> Any:
        """Call `action` with wire-named parameters; the SDK response model (`.Data`, `.RequestId`)."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.wedata.v20250806 import models

        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(params))
        try:
            return getattr(self._client, action)(request)
        except TencentCloudSDKException as e:
            code = str(e.get_code() or "ClientError")
            message = str(e.get_message() or "")
            if code in NETWORK_CODES:
                message = f"cannot reach {self.config.endpoint.url}: {message}"
                if self.config.endpoint_is_default:
                    message += " (the default endpoint: set --endpoint or TRIGFLOW_ENDPOINT)"
            raise ApiError(code, message, e.get_request_id()) from None

    @property
    def project_id(self) -> str:
        """The configured project, else the key's only project (ListProjects); ApiError when ambiguous."""
        if self._project_id is None:
            items = list(self.call("ListProjects", {"PageNumber": 1, "PageSize": 200}).Data.Items or [])
            if len(items) != 1:
                ids = ", ".join(f"{p.ProjectId} ({p.ProjectName})" for p in items[:10]) or "none"
                raise ApiError(
                    "MissingParameter",
                    f"ProjectId: the key sees {len(items)} projects ({ids}); pass --project or set "
                    "TRIGFLOW_PROJECT_ID",
                )
            self._project_id = str(items[0].ProjectId)
        return self._project_id
