"""local.provision builds the local/test resources from the same infra/resources.json as production."""

from __future__ import annotations

import json

import boto3

from local.provision import _referenced_names, env_bindings, load_template, local_template


def test_local_template_keeps_only_data_resources():
    template = local_template()
    types = {r["Type"] for r in template["Resources"].values()}
    assert types == {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::KMS::Key", "AWS::KMS::Alias"}
    names = set(template["Resources"]) | {"AWS::StackName", "AWS::Region", "AWS::AccountId", "AWS::Partition"}
    assert _referenced_names(template) <= names


def test_local_template_drops_references_to_dropped_resources():
    source = load_template()
    source["Resources"]["InboundQueue"]["Properties"]["Tags"] = [
        {"Key": "role", "Value": {"Ref": "ApiHandlerRole"}},
        {"Key": "team", "Value": "mux"},
    ]
    queue = local_template(source)["Resources"]["InboundQueue"]["Properties"]
    assert queue["Tags"] == [{"Key": "team", "Value": "mux"}]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}


def test_env_bindings_come_from_the_function_patches():
    assert env_bindings() == {
        "MUX_TABLE_NAME": "MuxTable",
        "MUX_INBOUND_QUEUE_URL": "InboundQueue",
        "MUX_DEAD_LETTER_QUEUE_URL": "InboundDeadLetterQueue",
        "MUX_KMS_KEY_ID": "TenantKeyKmsKey",
        "MUX_EVENTS_QUEUE_URL": "EventsQueue",
        "MUX_EVENTS_DEAD_LETTER_QUEUE_URL": "EventsDeadLetterQueue",
    }


def test_fixture_resources_match_the_template(aws_env):
    template = load_template()["Resources"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    inbound = sqs.get_queue_attributes(QueueUrl=aws_env.inbound_queue_url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=aws_env.dead_letter_queue_url, AttributeNames=["All"])["Attributes"]
    assert inbound["FifoQueue"] == "true" and dlq["FifoQueue"] == "true"
    assert inbound["ContentBasedDeduplication"] == "false"
    assert int(inbound["VisibilityTimeout"]) == template["InboundQueue"]["Properties"]["VisibilityTimeout"]
    redrive = json.loads(inbound["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == template["InboundQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]

    table = boto3.client("dynamodb", region_name="us-east-1").describe_table(TableName=aws_env.table_name)["Table"]
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"pk", "sk"}
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1"]

    kms = boto3.client("kms", region_name="us-east-1")
    blob = kms.encrypt(KeyId=aws_env.kms_key_id, Plaintext=b"x", EncryptionContext={"t": "1"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})["Plaintext"] == b"x"


def test_fixture_sets_the_resource_env(aws_env):
    import os

    assert os.environ["MUX_TABLE_NAME"] == aws_env.table_name
    assert os.environ["MUX_INBOUND_QUEUE_URL"] == aws_env.inbound_queue_url
    assert os.environ["MUX_KMS_KEY_ID"] == aws_env.kms_key_id
    assert "AWS_PROFILE" not in os.environ and "AWS_ENDPOINT_URL" not in os.environ
