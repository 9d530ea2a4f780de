"""Creates Hermes's tables and queues on a moto server from lambdas/template.yaml, the way
CloudFormation would on AWS. The template is the one list of table schemas: it is checked
against the code's names (lambdas/tests/template.rs), and every table and queue it declares is
created here, so a table added there needs nothing added here.

Usage: moto-bootstrap.py ENDPOINT  -> prints KEY=VALUE lines (queue URLs) for the shell.
"""
import json
import os
import re
import sys

import boto3
from cfnlint.decode import decode_str  # cfn-lint (script/setup) reads CloudFormation's YAML tags

# Tests want a message they did not delete back soon, not after production's 180 s.
TEST_VISIBILITY_TIMEOUT = "30"

endpoint = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(root, "lambdas", "template.yaml")) as f:
    template, problems = decode_str(f.read())
if problems:
    sys.exit(f"lambdas/template.yaml does not parse: {problems}")
params = {name: p.get("Default") for name, p in template.get("Parameters", {}).items()}
resources = template["Resources"]


def value(v):
    """A literal, a !Ref to a parameter (its default) or a !Sub over parameters."""
    if isinstance(v, dict) and "Ref" in v:
        return str(params[v["Ref"]])
    if isinstance(v, dict) and "Fn::Sub" in v:
        return re.sub(r"\$\{(\w+)\}", lambda m: str(params[m.group(1)]), v["Fn::Sub"])
    return v


def of_type(kind):
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == kind}


kw = dict(endpoint_url=endpoint, region_name="eu-west-1",
          aws_access_key_id="test", aws_secret_access_key="test")
ddb = boto3.client("dynamodb", **kw)
sqs = boto3.client("sqs", **kw)

for props in of_type("AWS::DynamoDB::Table").values():
    table = value(props["TableName"])
    schema = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
              if k in props}
    ddb.create_table(TableName=table, BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
                     **json.loads(json.dumps(schema)))
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
            "Enabled": bool(ttl["Enabled"]), "AttributeName": value(ttl["AttributeName"])})

# Dead-letter queues first: the queues that redrive to them need their ARNs.
queues = of_type("AWS::SQS::Queue")
urls, arns = {}, {}
for logical in sorted(queues, key=lambda n: "RedrivePolicy" in queues[n]):
    props = queues[logical]
    attributes = {}
    redrive = props.get("RedrivePolicy")
    if redrive:
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arns[target],
                                                  "maxReceiveCount": str(redrive["maxReceiveCount"])})
        attributes["VisibilityTimeout"] = TEST_VISIBILITY_TIMEOUT
    urls[logical] = sqs.create_queue(QueueName=value(props["QueueName"]), Attributes=attributes)["QueueUrl"]
    arns[logical] = sqs.get_queue_attributes(QueueUrl=urls[logical],
                                             AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

print(f"HERMES_TEST_QUEUE_URL={urls['MessageQueue']}")
print(f"HERMES_TEST_DLQ_URL={urls['DeadLetterQueue']}")
