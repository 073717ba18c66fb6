"""The packaged SAM template (what production deploys) carries every guarantee the code relies on.

Runs the same packaging as `make package` (infra/package.py → `chalice package --merge-template`)
once per stage and session into a temp dir, then inspects the output. cfn-lint is its own test. The dev
package is built the way a fresh machine would after `make venv`: from a clean copy of the repository
(what `git clone` gives: tracked and new files, no `.chalice/deployments`, no `out/`) with the network cut
(a network namespace when `unshare -n` is allowed, and in any case a dead proxy and index), so only the
wheel cache `make venv` fetched is available.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import wheels
from tests.infra.support import DEAD_NETWORK_ENV, can_unshare_network, clean_copy

ROOT = Path(__file__).resolve().parents[2]
RESOURCE_ENV = {
    "MUX_TABLE_NAME": "MuxTable",
    "MUX_INBOUND_QUEUE_URL": "InboundQueue",
    "MUX_DEAD_LETTER_QUEUE_URL": "InboundDeadLetterQueue",
    "MUX_KMS_KEY_ID": "TenantKeyKmsKey",
}
FUNCTIONS = ("APIHandler", "HandleInboundQueue")


def _package(stage: str, out: Path, *, project: Path = ROOT, offline: bool = False) -> Path:
    command = [sys.executable, "-m", "infra.package", "--stage", stage, "--out", str(out), "--no-lint"]
    command += ["--wheel-cache", str(wheels.CACHE)]
    env = dict(os.environ)
    if offline:
        env.update(DEAD_NETWORK_ENV)
        if can_unshare_network():
            command = ["unshare", "--net", "--", *command]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "sam.json"


@pytest.fixture(scope="session")
def dev_sam_path(tmp_path_factory) -> Path:
    """`make package` on a fresh machine after `make venv`, with the network cut."""
    project = clean_copy(tmp_path_factory.mktemp("clone"))
    assert not (project / ".chalice" / "deployments").exists()
    return _package("dev", tmp_path_factory.mktemp("package-dev"), project=project, offline=True)


@pytest.fixture(scope="session")
def prod_sam_path(tmp_path_factory) -> Path:
    return _package("prod", tmp_path_factory.mktemp("package-prod"))


@pytest.fixture(scope="session")
def sam(dev_sam_path) -> dict:
    return json.loads(dev_sam_path.read_text())


@pytest.fixture(scope="session")
def resources(sam) -> dict:
    return sam["Resources"]


def _cfn_lint(path: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run([str(lint), str(path)], capture_output=True, text=True, timeout=300)


def test_sqs_event_source_reports_batch_item_failures(resources):
    events = resources["HandleInboundQueue"]["Properties"]["Events"]
    source = events["HandleInboundQueueSqsEventSource"]
    assert source["Type"] == "SQS"
    props = source["Properties"]
    # Without this, Lambda ignores batchItemFailures and deletes failed messages.
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Queue"] == {"Fn::Sub": "${InboundQueue.Arn}"}, "Queue must be exactly one intrinsic"
    assert props["BatchSize"] == 10
    assert list(events) == ["HandleInboundQueueSqsEventSource"]
    # The worker leaves failed records to Lambda only where the trigger reports them (else it settles itself).
    variables = resources["HandleInboundQueue"]["Properties"]["Environment"]["Variables"]
    assert variables["MUX_REPORT_BATCH_ITEM_FAILURES"] == "true"


def test_patched_functions_are_the_generated_ones(resources):
    # A renamed function in Chalice would turn our patch into a half-empty resource of its own.
    for name in FUNCTIONS:
        props = resources[name]["Properties"]
        assert resources[name]["Type"] == "AWS::Serverless::Function"
        assert props["Handler"] in ("app.app", "app.handle_inbound_queue")
        assert props["CodeUri"]
    assert resources["HandleInboundQueue"]["Properties"]["Handler"] == "app.handle_inbound_queue"


def test_inbound_queue_redrives_to_dead_letter_queue(resources):
    queue = resources["InboundQueue"]["Properties"]
    policy = queue["RedrivePolicy"]
    assert policy["deadLetterTargetArn"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}
    assert isinstance(policy["maxReceiveCount"], int) and policy["maxReceiveCount"] >= 10
    # Visibility must outlast one Lambda invocation, or a batch is redelivered while still running.
    timeout = resources["HandleInboundQueue"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= timeout


def test_queues_are_fifo_without_content_dedupe(resources):
    for name in ("InboundQueue", "InboundDeadLetterQueue"):
        props = resources[name]["Properties"]
        assert resources[name]["Type"] == "AWS::SQS::Queue"
        assert props["FifoQueue"] is True
        assert props["ContentBasedDeduplication"] is False
        assert props["MessageRetentionPeriod"] == 1209600
        assert props["DeduplicationScope"] == "messageGroup"
        assert props["FifoThroughputLimit"] == "perMessageGroupId"
        assert "QueueName" not in props  # CloudFormation names it, so stacks coexist


def test_table_has_ttl_pitr_gsi_and_no_fixed_name(resources):
    table = resources["MuxTable"]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert {k["AttributeName"]: k["KeyType"] for k in props["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert {k["AttributeName"]: k["KeyType"] for k in gsi["KeySchema"]} == {"gsi1pk": "HASH", "gsi1sk": "RANGE"}
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert "TableName" not in props
    assert table["DeletionPolicy"] == "Retain"


def test_kms_key_rotates(resources):
    key = resources["TenantKeyKmsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert key["KeySpec"] == "SYMMETRIC_DEFAULT"
    alias = resources["TenantKeyKmsAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "TenantKeyKmsKey"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_get_resource_names(resources, function):
    variables = resources[function]["Properties"]["Environment"]["Variables"]
    for var, logical_id in RESOURCE_ENV.items():
        assert variables[var] == {"Ref": logical_id}
    # Chalice's own config.json variables survive the merge.
    assert variables["POWERTOOLS_SERVICE_NAME"] == "openclaw-mux"
    assert variables["MUX_STAGE"] == "dev"


def test_roles_get_the_resource_policy(resources):
    policy = resources["MuxAccessPolicy"]
    assert policy["Type"] == "AWS::IAM::Policy"
    attached = {r["Ref"] for r in policy["Properties"]["Roles"]}
    for function in FUNCTIONS:
        role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
        assert role in resources and resources[role]["Type"] == "AWS::IAM::Role"
        assert role in attached, f"{function}'s role {role} lacks the resource policy"
    actions = {
        action
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in statement["Action"]
    }
    assert {"dynamodb:ConditionCheckItem", "dynamodb:Query", "sqs:ReceiveMessage", "kms:Decrypt"} <= actions
    assert not any(a.endswith(":*") or a == "*" for a in actions)
    # The event source mapping is validated against the role's permissions when it is created.
    assert "MuxAccessPolicy" in resources["HandleInboundQueue"]["DependsOn"]


def test_alarms_watch_the_dead_letter_queue(resources):
    alarm = resources["InboundDeadLetterAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "QueueName"]}
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


def test_cfn_lint_passes_on_dev_package(dev_sam_path):
    result = _cfn_lint(dev_sam_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prod_package_takes_secrets_from_secrets_manager(prod_sam_path):
    resources = json.loads(prod_sam_path.read_text())["Resources"]
    api = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    worker = resources["HandleInboundQueue"]["Properties"]["Environment"]["Variables"]
    for variables in (api, worker):
        assert variables["MUX_STAGE"] == "prod"
        assert variables["TELEGRAM_BOT_TOKEN"].startswith("{{resolve:secretsmanager:")
        assert variables["MUX_TABLE_NAME"] == {"Ref": "MuxTable"}
    assert api["MUX_ADMIN_TOKEN"].startswith("{{resolve:secretsmanager:")
    assert "MUX_ADMIN_TOKEN" not in worker  # only the API needs it
    source = resources["HandleInboundQueue"]["Properties"]["Events"]["HandleInboundQueueSqsEventSource"]
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    result = _cfn_lint(prod_sam_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deployment_zip_ships_bytecode_and_no_dev_code(dev_sam_path):
    """Cold start: the zip carries unchecked-hash .pyc files for our modules (Lambda's file system is
    read-only, so without them every cold start recompiles), and nothing dev-only is packaged."""
    import sys
    import zipfile

    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    with zipfile.ZipFile(dev_sam_path.parent / "deployment.zip") as zf:
        names = set(zf.namelist())
        pyc = zf.read(f"__pycache__/app.{tag}.pyc")
    assert f"chalicelib/__pycache__/config.{tag}.pyc" in names
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # PEP 552 flags: hash-based, unchecked
    assert not any(n.startswith(("local/", "tests/", "muxctl/", "bench/", "infra/")) for n in names)


def test_api_gateway_own_errors_use_the_contract_error_body(resources):
    """Paths/methods API Gateway itself refuses (no Lambda call) still answer {"ok":false,"error","code"}."""
    responses = resources["RestAPI"]["Properties"]["GatewayResponses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    assert json.loads(missing["ResponseTemplates"]["application/json"])["code"] == "NOT_FOUND"
    assert json.loads(responses["REQUEST_TOO_LARGE"]["ResponseTemplates"]["application/json"])["code"] == (
        "PAYLOAD_TOO_LARGE"
    )
    for name in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[name]["ResponseTemplates"]["application/json"]
        assert '"ok":false' in template and "$context.error.responseType" in template


def test_events_queue_has_its_own_trigger_reporting_batch_item_failures_and_its_own_dead_letter_queue(resources):
    function = resources["HandleEventsQueue"]
    props = function["Properties"]
    assert function["Type"] == "AWS::Serverless::Function" and props["Handler"] == "app.handle_events_queue"
    events = props["Events"]
    assert list(events) == ["HandleEventsQueueSqsEventSource"]
    source = events["HandleEventsQueueSqsEventSource"]["Properties"]
    assert source["Queue"] == {"Fn::Sub": "${EventsQueue.Arn}"}, "Queue must be exactly one intrinsic"
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    variables = props["Environment"]["Variables"]
    assert variables["MUX_REPORT_BATCH_ITEM_FAILURES"] == "true"
    assert variables["MUX_EVENTS_QUEUE_URL"] == {"Ref": "EventsQueue"}
    assert variables["MUX_EVENTS_DEAD_LETTER_QUEUE_URL"] == {"Ref": "EventsDeadLetterQueue"}
    assert variables["MUX_TABLE_NAME"] == {"Ref": "MuxTable"}
    assert variables["MUX_KMS_KEY_ID"] == {"Ref": "TenantKeyKmsKey"}
    # The API (unbind, tenant delete) and the inbound worker (claims, dead letters, outages) emit events.
    for emitter in FUNCTIONS:
        assert resources[emitter]["Properties"]["Environment"]["Variables"]["MUX_EVENTS_QUEUE_URL"] == {
            "Ref": "EventsQueue"
        }
    queue = resources["EventsQueue"]["Properties"]
    assert "FifoQueue" not in queue  # standard: one receiver's outage holds nothing else up
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= props["Timeout"]
    # Retained longer than the retry budget (about a day), the dead letters 14 days.
    assert queue["MessageRetentionPeriod"] >= 2 * 86_400
    assert resources["EventsDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 1209600
    role = props["Role"]["Fn::GetAtt"][0]
    assert {"Ref": role} in resources["MuxAccessPolicy"]["Properties"]["Roles"]
    assert "MuxAccessPolicy" in function["DependsOn"]
    alarm = resources["EventsDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}
