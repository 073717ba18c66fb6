"""Deploy what `chalice deploy` cannot create as its own CloudFormation stack and hand its names to Chalice.

    python -m infra.deploy --stage dev [--alarm-topic-arn ARN]      # what `make infra STAGE=dev` runs
    chalice deploy --stage dev                                       # then, as often as you like

The stack `openclaw-mux-<stage>-infra` is built from the same merge template as the packaged path
(infra/resources.json plus infra/stages/<stage>.json): the DynamoDB table, the FIFO queue with its
dead-letter queue and redrive, the KMS key, the IAM policy and the alarms. What only Chalice's own
template has is left out (the functions, the API and their patches) or replaced: Chalice's per-function
roles by one `FunctionRole` carrying the same policy, references to a function by the name `chalice
deploy` gives it (`<app>-<stage>[-<function>]`). The outputs are written into `.chalice/config.json`
under the stage: the resource variables (`MUX_TABLE_NAME` …) and `manage_iam_role: false` +
`iam_role_arn`, so `chalice deploy` creates the functions with that role and the SQS trigger on that
queue. The trigger then lacks `ReportBatchItemFailures` (Chalice never sets it); the worker does not
depend on it (chalicelib/services/settle.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

from infra.package import merge_template

ROOT = Path(__file__).resolve().parent.parent
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
# Output of the infra stack → the setting it becomes in the Chalice stage.
OUTPUT_SETTINGS = {
    "MuxTableName": "MUX_TABLE_NAME",
    "InboundQueueUrl": "MUX_INBOUND_QUEUE_URL",
    "InboundDeadLetterQueueUrl": "MUX_DEAD_LETTER_QUEUE_URL",
    "TenantKeyKmsKeyId": "MUX_KMS_KEY_ID",
    "EventsQueueUrl": "MUX_EVENTS_QUEUE_URL",
    "EventsDeadLetterQueueUrl": "MUX_EVENTS_DEAD_LETTER_QUEUE_URL",
}
ROLE = "FunctionRole"
PSEUDO = {"AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackName", "AWS::URLSuffix"}
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


class InfraError(RuntimeError):
    """The infra stack could not be built or deployed; the message is one sentence."""


def stack_name(stage: str) -> str:
    return f"openclaw-mux-{stage}-infra"


def chalice_names(stage: str, app_name: str, template: dict[str, Any]) -> dict[str, Any]:
    """Chalice's logical ids (its functions patched in `template`, their roles) → what stands for them
    outside Chalice's template: the function names `chalice deploy` gives, and the shared role."""
    names: dict[str, Any] = {}
    for logical, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if logical == "APIHandler":
            names[logical], names["ApiHandlerRole"] = f"{app_name}-{stage}", {"Ref": ROLE}
        else:  # Chalice's logical id is the function's name in CamelCase
            function = re.sub(r"(?<!^)(?=[A-Z])", "_", logical).lower()
            names[logical], names[f"{logical}Role"] = f"{app_name}-{stage}-{function}", {"Ref": ROLE}
    return names


def infra_template(stage: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The merge template without Chalice's resources, with one role for both functions."""
    config = config if config is not None else _load_config(CHALICE_CONFIG)
    source = copy.deepcopy(merge_template(stage))
    replacements = chalice_names(stage, str(config["app_name"]), source)
    resources: dict[str, Any] = {}
    for name, resource in source.get("Resources", {}).items():
        kind = str(resource.get("Type", ""))
        if not kind or kind.startswith("AWS::Serverless::"):
            continue  # a patch on (or a resource of) Chalice's own template
        resource = _replace_refs(resource, replacements)
        if _refers_to_chalice(resource.get("DependsOn"), replacements):
            del resource["DependsOn"]
        if kind == "AWS::IAM::Policy":
            roles = resource["Properties"].get("Roles", [])
            resource["Properties"]["Roles"] = [r for i, r in enumerate(roles) if r not in roles[:i]]
        resources[name] = resource
    resources[ROLE] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": f"openclaw-mux {stage}: the role `chalice deploy` gives both functions",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
        },
    }
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"openclaw-mux {stage}: table, FIFO queues + DLQ, KMS key, role, alarms for `chalice deploy`",
        "Resources": resources,
        "Outputs": {
            **{k: v for k, v in source.get("Outputs", {}).items() if k in OUTPUT_SETTINGS},
            "FunctionRoleArn": {"Value": {"Fn::GetAtt": [ROLE, "Arn"]}},
        },
    }
    used = _referenced(template)
    conditions = {k: v for k, v in source.get("Conditions", {}).items() if k in _conditions_used(resources)}
    used |= _referenced(conditions)
    parameters = {k: v for k, v in source.get("Parameters", {}).items() if k in used}
    template["Parameters"] = parameters
    if conditions:
        template["Conditions"] = conditions
    unknown = used - set(resources) - set(parameters) - PSEUDO
    if unknown:
        raise InfraError(f"the infra template refers to {sorted(unknown)}, which only Chalice's template has")
    return template


def _replace_refs(node: Any, replacements: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in replacements:
            return copy.deepcopy(replacements[node["Ref"]])
        return {key: _replace_refs(value, replacements) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_refs(value, replacements) for value in node]
    return node


def _refers_to_chalice(depends_on: Any, replacements: dict[str, Any]) -> bool:
    names = [depends_on] if isinstance(depends_on, str) else list(depends_on or [])
    return any(name in replacements for name in names)


def _referenced(node: Any) -> set[str]:
    """Logical ids and parameters a fragment refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(str(value[0] if isinstance(value, list) else str(value).split(".")[0]))
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                found |= {n.split(".")[0] for n in _SUB_VAR.findall(str(text)) if n not in variables}
                found |= _referenced(variables)
            else:
                found |= _referenced(value)
    elif isinstance(node, list):
        for value in node:
            found |= _referenced(value)
    return found


def _conditions_used(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fn::If" and isinstance(value, list) and value:
                found.add(str(value[0]))
            if key == "Condition" and isinstance(value, str):
                found.add(value)
            found |= _conditions_used(value)
    elif isinstance(node, list):
        for value in node:
            found |= _conditions_used(value)
    return found


def deploy(
    stage: str,
    parameters: dict[str, str],
    *,
    cloudformation: Any,
    name: str | None = None,
    template: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Create or update the stage's infra stack (`template`, default `infra_template(stage)`), wait for it,
    and return its outputs."""
    name = name or stack_name(stage)
    template = template if template is not None else infra_template(stage)
    known = template.get("Parameters", {})
    unknown = set(parameters) - set(known)
    if unknown:
        raise InfraError(f"unknown parameter {sorted(unknown)}; the stack takes {sorted(known)}")
    args = {
        "StackName": name,
        "TemplateBody": json.dumps(template),
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
        "Capabilities": ["CAPABILITY_IAM"],
    }
    from botocore.exceptions import ClientError

    if _stack_status(cloudformation, name) is None:
        cloudformation.create_stack(**args, Tags=[{"Key": "openclaw-mux:stage", "Value": stage}])
        waiter = "stack_create_complete"
    else:
        try:
            cloudformation.update_stack(**args)
            waiter = "stack_update_complete"
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
            waiter = ""
    if waiter:
        try:
            cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 360})
        except Exception as exc:  # noqa: BLE001 - the stack's first failure says more than the waiter
            raise InfraError(f"stack {name} failed: {_first_failure(cloudformation, name) or exc}") from None
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _stack_status(cloudformation: Any, name: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _first_failure(cloudformation: Any, name: str) -> str | None:
    events = cloudformation.describe_stack_events(StackName=name).get("StackEvents", [])
    for event in reversed(events):
        if str(event.get("ResourceStatus", "")).endswith("_FAILED"):
            return f"{event.get('LogicalResourceId')}: {event.get('ResourceStatusReason', 'no reason given')}"
    return None


def write_stage_config(stage: str, outputs: dict[str, str], config_path: Path = CHALICE_CONFIG) -> dict[str, Any]:
    """Put the stack's names into the Chalice stage (keeping everything else in the file as it was)."""
    missing = [key for key in (*OUTPUT_SETTINGS, "FunctionRoleArn") if not outputs.get(key)]
    if missing:
        raise InfraError(f"the infra stack has no output {missing}")
    config = _load_config(config_path)
    stage_config = config.setdefault("stages", {}).setdefault(stage, {})
    variables = stage_config.setdefault("environment_variables", {})
    variables.setdefault("MUX_STAGE", stage)
    for output, setting in OUTPUT_SETTINGS.items():
        variables[setting] = outputs[output]
    stage_config["manage_iam_role"] = False
    stage_config["iam_role_arn"] = outputs["FunctionRoleArn"]
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return dict(stage_config)


def _load_config(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--stack-name", default=None, help="default openclaw-mux-<stage>-infra")
    parser.add_argument("--alarm-topic-arn", default=None, help="SNS topic for the alarms")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE", help="another parameter")
    parser.add_argument("--print-template", action="store_true", help="print the template; deploy nothing")
    args = parser.parse_args(argv)
    try:
        if args.print_template:
            print(json.dumps(infra_template(args.stage), indent=2))
            return 0
        parameters = dict(p.split("=", 1) for p in args.parameter if "=" in p)
        if args.alarm_topic_arn:
            parameters["AlarmTopicArn"] = args.alarm_topic_arn
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        name = args.stack_name or stack_name(args.stage)
        try:
            outputs = deploy(args.stage, parameters, cloudformation=boto3.client("cloudformation"), name=name)
        except (BotoCoreError, ClientError) as exc:
            raise InfraError(f"AWS refused the infra stack {name}: {exc}") from None
        write_stage_config(args.stage, outputs)
    except InfraError as exc:
        print(f"infra deploy failed: {exc}", file=sys.stderr)
        return 2
    print(
        f"stack {name} is ready and .chalice/config.json names its resources for stage {args.stage}; "
        f"now run: chalice deploy --stage {args.stage}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
