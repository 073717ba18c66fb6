"""Create the table, queues and KMS key from `infra/resources.json` at whatever AWS endpoint boto3 uses.

The merge template stays the single definition of every resource. It is filtered to the resources a
process can run against locally (`AWS::DynamoDB::*`, `AWS::SQS::*`, `AWS::KMS::*`); everything else
(IAM, alarms, the Chalice functions) and any property referring to a dropped resource is removed. What
is left is submitted to CloudFormation (moto's, in the local stack and under `moto.mock_aws` in tests)
and the physical ids are read back with ``list_stack_resources``. Under moto this takes ~25 ms when
the boto3 session is reused (pass ``session=``), so no second, hand-written provisioning path exists.

The environment variables the service reads (``MUX_TABLE_NAME`` …) are taken from the template too: the
``Environment.Variables`` of the patched Chalice functions name the resource each one refers to.

Local deviations, all for moto: FIFO queues get an explicit ``<stack>-<LogicalId>.fifo`` name (moto's
CloudFormation does not generate one), and the inbound queue's visibility timeout can be shortened so
retries after a crash take seconds, not minutes.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "infra" / "resources.json"
LOCAL_SERVICES = ("DynamoDB", "SQS", "KMS")
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Resources:
    """Physical ids of the provisioned resources, and the env vars that hand them to the service."""

    stack_name: str
    table_name: str
    inbound_queue_url: str
    dead_letter_queue_url: str
    kms_key_id: str
    env: dict[str, str]


class ProvisionError(RuntimeError):
    """The template cannot be provisioned locally (unsupported construct or failed stack)."""


# --- template filtering ---------------------------------------------------------------------
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _is_local(resource: dict[str, Any]) -> bool:
    parts = str(resource.get("Type", "")).split("::")
    return len(parts) == 3 and parts[0] == "AWS" and parts[1] in LOCAL_SERVICES


def _referenced_names(node: Any) -> set[str]:
    """Logical ids and pseudo parameters a template fragment refers to (Ref, GetAtt, Sub, DependsOn-free)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" and isinstance(value, str):
                return {value}
            if key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                return {str(target)}
            if key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                for name in _SUB_VAR.findall(str(text)):
                    if name not in variables:
                        found.add(name.split(".")[0])
                return found | _referenced_names(variables)
        for value in node.values():
            found |= _referenced_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= _referenced_names(value)
    return found


def _prune(node: Any, allowed: set[str], *, top: bool = False) -> Any:
    """Drop what refers to something not in `allowed`: an intrinsic naming a dropped resource removes the
    object (or list element) that holds it, up to the resource's property; other properties stay."""
    if isinstance(node, dict):
        if len(node) == 1 and next(iter(node)).startswith(("Ref", "Fn::")):
            return _DROP if _referenced_names(node) - allowed else node
        out = {}
        for key, value in node.items():
            pruned = _prune(value, allowed)
            if pruned is _DROP:
                if not top:
                    return _DROP
                continue
            out[key] = pruned
        return out
    if isinstance(node, list):
        return [p for p in (_prune(v, allowed) for v in node) if p is not _DROP]
    return node


_DROP = object()


def local_template(
    template: dict[str, Any] | None = None,
    *,
    stack_name: str = "openclaw-mux-local",
    queue_visibility_timeout: int | None = None,
) -> dict[str, Any]:
    """The template reduced to DynamoDB/SQS/KMS resources, ready for moto."""
    source = copy.deepcopy(template if template is not None else load_template())
    kept = {name: res for name, res in source.get("Resources", {}).items() if _is_local(res)}
    allowed = set(kept) | set(PSEUDO_PARAMETERS) | {"AWS::StackName", "AWS::Region", "AWS::AccountId"}
    resources: dict[str, Any] = {}
    for name, res in kept.items():
        res = {k: v for k, v in res.items() if k in ("Type", "Properties")}
        props = _prune(res.get("Properties", {}), allowed, top=True)
        if res["Type"] == "AWS::SQS::Queue":
            if props.get("FifoQueue") and "QueueName" not in props:
                props["QueueName"] = f"{stack_name}-{name}.fifo"
            if queue_visibility_timeout is not None and "RedrivePolicy" in props:
                props["VisibilityTimeout"] = queue_visibility_timeout
        res["Properties"] = props
        resources[name] = res
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def env_bindings(template: dict[str, Any] | None = None) -> dict[str, str]:
    """`{env var: logical id}` for every function env var that is a plain Ref to a local resource."""
    source = template if template is not None else load_template()
    resources = source.get("Resources", {})
    out: dict[str, str] = {}
    for res in resources.values():
        variables = res.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for var, value in variables.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and _is_local(resources.get(value["Ref"], {})):
                out[var] = value["Ref"]
    return out


# --- provisioning ---------------------------------------------------------------------------
def provision(
    *,
    stack_name: str = "openclaw-mux-local",
    queue_visibility_timeout: int | None = None,
    template_path: Path = TEMPLATE_PATH,
    session: Any = None,
) -> Resources:
    """Create the resources of `infra/resources.json` at the endpoint boto3 currently uses.

    `session` (a boto3 Session) may be passed to reuse its loaded service models (tests do, for speed).
    """
    import boto3

    source = load_template(template_path)
    template = local_template(source, stack_name=stack_name, queue_visibility_timeout=queue_visibility_timeout)
    session = session or boto3.session.Session()
    physical = _via_cloudformation(session, template, stack_name)
    env = {var: physical[logical] for var, logical in env_bindings(source).items()}
    required = ("MUX_TABLE_NAME", "MUX_INBOUND_QUEUE_URL", "MUX_DEAD_LETTER_QUEUE_URL", "MUX_KMS_KEY_ID")
    missing = [name for name in required if name not in env]
    if missing:
        raise ProvisionError(f"infra/resources.json does not bind {', '.join(missing)} to a resource")
    return Resources(
        stack_name=stack_name,
        table_name=env["MUX_TABLE_NAME"],
        inbound_queue_url=env["MUX_INBOUND_QUEUE_URL"],
        dead_letter_queue_url=env["MUX_DEAD_LETTER_QUEUE_URL"],
        kms_key_id=env["MUX_KMS_KEY_ID"],
        env=env,
    )


def _via_cloudformation(session: Any, template: dict[str, Any], stack_name: str) -> dict[str, str]:
    cfn = session.client("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(template))
    waiter = cfn.get_waiter("stack_create_complete")
    waiter.wait(StackName=stack_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    physical: dict[str, str] = {}
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            physical[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    missing = set(template["Resources"]) - set(physical)
    if missing:
        raise ProvisionError(f"stack {stack_name} lacks {sorted(missing)}")
    return physical
