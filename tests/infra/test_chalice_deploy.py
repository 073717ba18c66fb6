"""`chalice deploy` path: the infra stack (`make infra`), the one-sentence refusals, and a real `chalice deploy`.

The deploy runs against a moto server on loopback standing in for AWS (CloudFormation, IAM, DynamoDB,
SQS, KMS, Lambda, API Gateway), with pip confined to the wheel cache. Two stand-ins, both for moto's
limits and said here so nobody reads more into the test: moto's API Gateway imports only OpenAPI 3,
while Chalice sends Swagger 2.0, so the import is fed the same paths as OpenAPI 3 (the API's routes are
then moto's reading of them); moto's CloudFormation neither names FIFO queues (AWS does) nor creates
CloudWatch alarms, so the test names the queues and the alarms are checked by cfn-lint only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import deploy, wheels
from tests.infra.support import DEAD_NETWORK_ENV, ROOT, clean_copy, free_port

REGION = "us-east-1"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
SCRUBBED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE")


def _chalice_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith(("MUX_", "AWS_ENDPOINT"))}
    env = wheels.offline_pip_env({**env, **DEAD_NETWORK_ENV, **FAKE_AWS}, wheels.CACHE)
    env.update({"AWS_ENDPOINT_URL": endpoint, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def _chalice(project: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    chalice = str(Path(sys.executable).parent / "chalice")
    return subprocess.run(
        [chalice, *args], cwd=project, env=_chalice_env(endpoint), capture_output=True, text=True, timeout=300
    )


# --- what Chalice checks before any AWS call ---------------------------------------------------------------
def test_chalice_deploy_validation_accepts_every_route():
    """`chalice deploy` validates routes first; a route mixing binary and text content types fails it."""
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_configuration

    config = CLIFactory(project_dir=str(ROOT)).create_config_obj(chalice_stage_name="dev")
    validate_configuration(config)


def test_an_octet_stream_body_gets_the_contract_error(client, admin_headers):
    resp = client.http.post(
        "/v1/admin/tenants/bootstrap", headers={**admin_headers, "Content-Type": "application/octet-stream"},
        body=b"\x00\x01",
    )
    assert 400 <= resp.status_code < 500
    body = json.loads(resp.body)
    assert body["ok"] is False and body["code"] and body["error"]


def test_chalice_deploy_of_a_stage_without_its_infra_stack_is_refused_in_one_sentence(tmp_path):
    project = clean_copy(tmp_path)
    result = _chalice(project, "http://127.0.0.1:9", "deploy", "--stage", "dev")  # nothing listens there
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Chalice cannot create stage dev's DynamoDB table" in lines[0]
    assert "run `make infra STAGE=dev` first" in lines[0]
    assert not (project / ".chalice" / "deployed").exists()


def test_chalice_deploy_of_an_invalid_stage_setting_is_refused_in_one_line(monkeypatch):
    """The same check in-process, inside the click context of `chalice deploy --stage dev`."""
    import click
    from chalice import cli

    from chalicelib import deployment

    monkeypatch.setenv("MUX_RETRY_MAX_ATTEMPTS", "many")
    with click.Context(cli.cli, info_name="chalice") as root:
        with click.Context(cli.deploy, parent=root, info_name="deploy") as context:
            context.params["stage"] = "dev"
            with pytest.raises(click.ClickException) as refused:
                deployment.refuse_incomplete_cli_deploy()
    assert refused.value.message.startswith("stage dev in .chalice/config.json: Invalid configuration: MUX_RETRY")
    deployment.refuse_incomplete_cli_deploy()  # outside the CLI: nothing to check


def test_plain_chalice_package_is_refused_in_one_sentence(tmp_path):
    result = _chalice(clean_copy(tmp_path / "p"), "http://127.0.0.1:9", "package", "--stage", "dev", str(tmp_path))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "run `make package STAGE=dev`" in lines[0], result.stderr
    assert not (tmp_path / "sam.json").exists()


# --- the infra stack ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def infra() -> dict[str, Any]:
    return deploy.infra_template("dev")


def test_infra_stack_has_what_chalice_cannot_create_and_nothing_of_chalice(infra):
    resources = infra["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::KMS::Key", "AWS::IAM::Role", "AWS::IAM::Policy",
            "AWS::CloudWatch::Alarm"} <= kinds
    assert not any(k.startswith("AWS::Serverless::") for k in kinds)
    assert "RestAPI" not in resources and "APIHandler" not in resources
    redrive = resources["InboundQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}
    # Chalice's two roles become the one role `chalice deploy` is given, with the same policy.
    assert resources["MuxAccessPolicy"]["Properties"]["Roles"] == [{"Ref": "FunctionRole"}]
    principal = resources["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "lambda.amazonaws.com"}
    # An alarm on a function names it as `chalice deploy` will.
    dims = resources["InboundWorkerErrorsAlarm"]["Properties"]["Dimensions"]
    assert dims == [{"Name": "FunctionName", "Value": "openclaw-mux-dev-handle_inbound_queue"}]
    assert set(infra["Outputs"]) == {*deploy.OUTPUT_SETTINGS, "FunctionRoleArn"}
    assert "MuxPublicUrl" not in infra["Parameters"]  # only the functions used it


def test_infra_stack_refuses_a_reference_only_chalice_has(monkeypatch):
    source = deploy.merge_template("dev")
    source["Resources"]["Extra"] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Ref": "RestAPI"}}}
    monkeypatch.setattr(deploy, "merge_template", lambda stage: source)
    with pytest.raises(deploy.InfraError, match=r"refers to \['RestAPI'\]"):
        deploy.infra_template("dev")


def test_cfn_lint_passes_on_the_infra_stack_of_every_stage(infra, tmp_path):
    paths = []
    for stage in ("dev", "prod"):
        paths.append(tmp_path / f"infra-{stage}.json")
        paths[-1].write_text(json.dumps(infra if stage == "dev" else deploy.infra_template(stage)))
    lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(lint), *map(str, paths)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


# --- chalice deploy against moto ---------------------------------------------------------------------------
@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import requests
    from moto.apigateway import models
    from moto.server import ThreadedMotoServer

    put = models.APIGatewayBackend.put_rest_api

    def as_openapi3(doc: dict[str, Any]) -> dict[str, Any]:
        return {"openapi": "3.0.1", "info": {"title": doc["info"]["title"], "description": "", "version": "1"},
                "paths": doc["paths"]}

    def import_rest_api(self: Any, api_doc: dict[str, Any], fail_on_warnings: bool) -> Any:
        api = self.create_rest_api(name=api_doc["info"]["title"], description="")
        put(self, api.id, as_openapi3(api_doc), False, "overwrite")
        return api

    def put_rest_api(self: Any, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool,
                     mode: str = "merge") -> Any:
        doc = as_openapi3(api_doc) if api_doc.get("swagger") else api_doc
        return put(self, function_id, doc, False, "overwrite" if api_doc.get("swagger") else mode)

    monkeypatch.setattr(models.APIGatewayBackend, "import_rest_api", import_rest_api)
    monkeypatch.setattr(models.APIGatewayBackend, "put_rest_api", put_rest_api)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto: no CloudFormation alarms
def test_make_infra_then_plain_chalice_deploy_is_complete(moto_endpoint, tmp_path):
    project = clean_copy(tmp_path / "clone")
    config_path = project / ".chalice" / "config.json"
    template = deploy.infra_template("dev")
    for name in ("InboundQueue", "InboundDeadLetterQueue"):  # moto's CloudFormation does not name FIFO queues
        template["Resources"][name]["Properties"]["QueueName"] = f"openclaw-mux-dev-infra-{name}.fifo"
    outputs = deploy.deploy("dev", {}, cloudformation=_client("cloudformation", moto_endpoint), template=template)
    stage = deploy.write_stage_config("dev", outputs, config_path)
    assert stage["manage_iam_role"] is False and stage["iam_role_arn"] == outputs["FunctionRoleArn"]
    # Running it again is a no-op that keeps the names.
    assert deploy.deploy("dev", {}, cloudformation=_client("cloudformation", moto_endpoint), template=template) == (
        outputs
    )

    result = _chalice(project, moto_endpoint, "deploy", "--stage", "dev")
    assert result.returncode == 0, result.stdout + result.stderr

    lam = _client("lambda", moto_endpoint)
    worker = lam.get_function_configuration(FunctionName="openclaw-mux-dev-handle_inbound_queue")
    api = lam.get_function_configuration(FunctionName="openclaw-mux-dev")
    for function in (worker, api):
        variables = function["Environment"]["Variables"]
        assert function["Role"] == outputs["FunctionRoleArn"]
        assert variables["MUX_TABLE_NAME"] == outputs["MuxTableName"]
        assert variables["MUX_INBOUND_QUEUE_URL"] == outputs["InboundQueueUrl"]
        assert variables["MUX_DEAD_LETTER_QUEUE_URL"] == outputs["InboundDeadLetterQueueUrl"]
        assert variables["MUX_KMS_KEY_ID"] == outputs["TenantKeyKmsKeyId"]
        # Chalice's trigger does not report batch item failures, so the worker settles batches itself.
        assert "MUX_REPORT_BATCH_ITEM_FAILURES" not in variables
    assert worker["Timeout"] == 90

    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    (mapping,) = [m for m in mappings if m["FunctionArn"] == worker["FunctionArn"]]
    queue_arn = _client("sqs", moto_endpoint).get_queue_attributes(
        QueueUrl=outputs["InboundQueueUrl"], AttributeNames=["QueueArn", "RedrivePolicy"]
    )["Attributes"]
    assert mapping["EventSourceArn"] == queue_arn["QueueArn"] and mapping["BatchSize"] == 10
    assert json.loads(queue_arn["RedrivePolicy"])["maxReceiveCount"] >= 10
    assert not mapping.get("FunctionResponseTypes")  # what Chalice gives; lossless anyway (test_settle_…)
    # The control-plane events consumer: its own function on the events queue, the same role and names.
    events_worker = lam.get_function_configuration(FunctionName="openclaw-mux-dev-handle_events_queue")
    assert events_worker["Role"] == outputs["FunctionRoleArn"] and events_worker["Timeout"] == 60
    variables = events_worker["Environment"]["Variables"]
    assert variables["MUX_EVENTS_QUEUE_URL"] == outputs["EventsQueueUrl"]
    assert variables["MUX_EVENTS_DEAD_LETTER_QUEUE_URL"] == outputs["EventsDeadLetterQueueUrl"]
    (events_mapping,) = [m for m in mappings if m["FunctionArn"] == events_worker["FunctionArn"]]
    events_arn = _client("sqs", moto_endpoint).get_queue_attributes(
        QueueUrl=outputs["EventsQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert events_mapping["EventSourceArn"] == events_arn

    iam = _client("iam", moto_endpoint)
    role = outputs["FunctionRoleArn"].rsplit("/", 1)[-1]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["openclaw-mux-resources"]
    table = _client("dynamodb", moto_endpoint).describe_table(TableName=outputs["MuxTableName"])["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    apis = _client("apigateway", moto_endpoint).get_rest_apis()["items"]
    assert [a["name"] for a in apis] == ["openclaw-mux"]

    # This stage now belongs to the `chalice deploy` path; packaging it says so in one line.
    packaged = subprocess.run(
        [sys.executable, "-m", "infra.package", "--stage", "dev", "--out", str(tmp_path / "out"),
         "--wheel-cache", str(wheels.CACHE)],
        cwd=project, capture_output=True, text=True, timeout=120,
    )
    assert packaged.returncode == 2
    assert packaged.stderr.strip().splitlines() == [
        "packaging failed: stage dev is set up for `chalice deploy` (`make infra` wrote its role and resource names"
        " into .chalice/config.json): deploy it with `chalice deploy`, or package a stage without those settings"
    ]
