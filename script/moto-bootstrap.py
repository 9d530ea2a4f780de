"""Creates Hermes's tables and queues on a moto server, as lambdas/template.yaml would on AWS.

Usage: moto-bootstrap.py ENDPOINT  -> prints KEY=VALUE lines (queue URLs) for the shell.
"""
import sys

import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="eu-west-1",
          aws_access_key_id="test", aws_secret_access_key="test")
ddb = boto3.client("dynamodb", **kw)
sqs = boto3.client("sqs", **kw)

ddb.create_table(
    TableName="hermesTokens",
    BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"},
                          {"AttributeName": "room_id", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"},
               {"AttributeName": "room_id", "KeyType": "RANGE"}],
)
ddb.create_table(
    TableName="hermesConnections",
    BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "connection_id", "AttributeType": "S"},
                          {"AttributeName": "room_id", "AttributeType": "S"}],
    KeySchema=[{"AttributeName": "connection_id", "KeyType": "HASH"}],
    GlobalSecondaryIndexes=[{
        "IndexName": "room_id-index",
        "KeySchema": [{"AttributeName": "room_id", "KeyType": "HASH"},
                      {"AttributeName": "connection_id", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["user_id"]},
    }],
)
ddb.create_table(
    TableName="hermesHistory",
    BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[{"AttributeName": "room_id", "AttributeType": "S"},
                          {"AttributeName": "seq", "AttributeType": "N"}],
    KeySchema=[{"AttributeName": "room_id", "KeyType": "HASH"},
               {"AttributeName": "seq", "KeyType": "RANGE"}],
)
for table in ("hermesTokens", "hermesConnections", "hermesHistory"):
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})

dlq = sqs.create_queue(QueueName="hermes-messageQueue-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
q = sqs.create_queue(QueueName="hermes-messageQueue", Attributes={
    "VisibilityTimeout": "30",
    "RedrivePolicy": '{"deadLetterTargetArn":"%s","maxReceiveCount":"5"}' % dlq_arn,
})["QueueUrl"]
print(f"HERMES_TEST_QUEUE_URL={q}")
print(f"HERMES_TEST_DLQ_URL={dlq}")
