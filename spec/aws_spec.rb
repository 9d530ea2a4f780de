# frozen_string_literal: true

require "spec_helper"
require "bcrypt"
require "jwt"
require "securerandom"

# The real path: the tokens table in DynamoDB and the queue in SQS, on the moto server that
# script/with-moto starts; read back with boto3.
RSpec.describe "on DynamoDB and SQS" do
  let(:aws) do
    client(backend: "aws", aws_endpoint_url: moto_endpoint, queue_url: ENV.fetch("HERMES_TEST_QUEUE_URL", nil), region: "eu-west-1")
  end
  let(:user) { "u-#{SecureRandom.hex(6)}" }

  def row(user, room)
    boto(<<~PY)
      item = ddb.get_item(TableName="hermesTokens", Key={"user_id": {"S": #{user.inspect}}, "room_id": {"S": #{room.inspect}}}).get("Item")
      print(json.dumps(item))
    PY
  end

  # A queue of the test's own, so what it reads back is only what it sent.
  def fresh_queue
    boto(%(print(json.dumps(sqs.create_queue(QueueName="gem-#{SecureRandom.hex(4)}")["QueueUrl"]))))
  end

  # The bodies of the first +count+ messages received from +queue+ (deleted as read), by
  # message id.
  def received_bodies(queue, count)
    boto(<<~PY).to_h
      out = []
      for _ in range(10):
          r = sqs.receive_message(QueueUrl=#{queue.inspect}, MaxNumberOfMessages=10, WaitTimeSeconds=1)
          for m in r.get("Messages", []):
              out.append([m["MessageId"], m["Body"]])
              sqs.delete_message(QueueUrl=#{queue.inspect}, ReceiptHandle=m["ReceiptHandle"])
          if len(out) >= #{count}: break
      print(json.dumps(out))
    PY
  end

  it "stores the seed's row, a bcrypt hash BCrypt::Password accepts, and reuses it while fresh" do
    token = aws.generate_token(user_id: user, company_code: "ACME")
    claims, = JWT.decode(token, SECRET, true, algorithm: "HS512")
    item = row(user, "ACME")
    expect(item.keys).to contain_exactly("user_id", "room_id", "token", "expires_at")
    expect(item["user_id"]).to eq("S" => user)
    expect(item["expires_at"]["N"].to_i).to be_within(5).of(Time.now.to_i + 3600)
    expect(claims["exp"]).to be <= item["expires_at"]["N"].to_i
    hash = item["token"]["S"]
    expect(hash).to start_with("$2a$04$")
    expect(BCrypt::Password.new(hash)).to eq(claims["token"])

    aws.generate_token(user_id: user, company_code: "ACME")
    expect(row(user, "ACME")["token"]["S"]).to eq(hash), "a fresh row is not re-hashed"

    expect(aws.revoke_token(user_id: user, company_code: "ACME")).to be(true)
    expect(row(user, "ACME")).to be_nil
  end

  it "writes an Integer user id as the seed did (user_id.to_s)" do
    id = rand(1..2**40)
    aws.compose_token(user_id: id, company_code: "R")
    expect(row(id.to_s, "R")["user_id"]).to eq("S" => id.to_s)
  end

  it "puts the seed's body on the queue" do
    queue = fresh_queue
    c = client(backend: "aws", aws_endpoint_url: moto_endpoint, queue_url: queue)
    id = c.enqueue_notification(user_id: 7, room_id: "ACME", data: { type: "info", data: "backup done" })
    ids = c.enqueue_notifications((1..12).map { |i| { user_id: i, room_id: "ACME", data: i } })
    bodies = received_bodies(queue, 13)
    expect(bodies[id]).to eq('{"user_id":7,"room_id":"ACME","data":{"type":"info","data":"backup done"}}')
    expect(ids.map { |i| JSON.parse(bodies.fetch(i))["data"] }).to eq((1..12).to_a)
  end

  it "puts broadcasts on the queue, their data byte for byte" do
    queue = fresh_queue
    c = client(backend: "aws", aws_endpoint_url: moto_endpoint, queue_url: queue)
    json = '"\u003cturbo-stream action=\"remove\" target=\"card_1\"\u003e\u003c/turbo-stream\u003e"'
    one = c.broadcast_json(stream: "board_1", json: json)
    many = c.broadcast_many((1..11).map { |i| { stream: "board_#{i % 2}", data: { n: i } } })
    bodies = received_bodies(queue, 12)
    expect(bodies[one]).to eq(%({"hermes":"broadcast","stream":"board_1","data":#{json}}))
    expect(many.map { |i| JSON.parse(bodies.fetch(i)).values_at("stream", "data") })
      .to eq((1..11).map { |i| ["board_#{i % 2}", { "n" => i }] })
  end

  it "reads a stream's presence from the subscriptions table by its key" do
    stream = "board-#{SecureRandom.hex(6)}"
    boto(<<~PY)
      for conn, user in [("c1", "42"), ("c2", "7"), ("c3", "42"), ("c4", None)]:
          item = {"stream": {"S": #{stream.inspect}}, "connection_id": {"S": conn}, "expires_at": {"N": "4102444800"}}
          if user: item["user_id"] = {"S": user}
          ddb.put_item(TableName="hermesSubscriptions", Item=item)
      print("null")
    PY
    expect(aws.presence(stream: stream)).to eq(%w[42 7])
    expect(aws.presence(stream: "#{stream}-empty")).to eq([])
  end

  it "reads a room's position from its counter in the history table, without creating it" do
    room = "room-#{SecureRandom.hex(6)}"
    expect(aws.position(room_id: room)).to eq(seq: 0, epoch: nil)
    counter = lambda do
      boto(<<~PY)
        item = ddb.get_item(TableName="hermesHistory", Key={"room_id": {"S": #{room.inspect}}, "seq": {"N": "0"}}).get("Item")
        print(json.dumps(item))
      PY
    end
    expect(counter.call).to be_nil
    # The counter as the send function leaves it (seq = 0, last_seq, epoch: docs/protocol.md).
    boto(<<~PY)
      ddb.put_item(TableName="hermesHistory", Item={"room_id": {"S": #{room.inspect}}, "seq": {"N": "0"},
                   "last_seq": {"N": "7"}, "epoch": {"S": "0123456789abcdef"}, "updated_at": {"N": "1"}})
      print("null")
    PY
    expect(aws.position(room_id: room)).to eq(seq: 7, epoch: "0123456789abcdef")
    expect { aws.position(room_id: "") }.to raise_error(ArgumentError, "room_id must not be empty")
  end

  def one_line(error)
    expect(error.message).not_to include("\n")
    expect(error.message.length).to be < 400
    expect(error.message).not_to match(/SdkBody|headers|HeaderMap/)
    expect(error.message).not_to include(SECRET, PASSCODE)
  end

  it "reports an unreachable DynamoDB or SQS in one line naming the call and the table or queue" do
    dead = client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", region: "eu-west-1",
                  queue_url: "http://127.0.0.1:9/000000000000/hermes-messageQueue")
    expect { dead.generate_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::StoreError, /\ADynamoDB GetItem on table hermesTokens failed: cannot connect \(.*refused.*\)\z/) { |e| one_line(e) }
    expect { dead.enqueue_notification(user_id: 1, room_id: "R", data: 1) }
      .to raise_error(Hermes::QueueError, /\ASQS SendMessage on queue hermes-messageQueue failed: cannot connect/) { |e| one_line(e) }
  end

  it "reports what DynamoDB and SQS answer with the AWS error code" do
    table = "missing-#{SecureRandom.hex(4)}"
    missing = client(backend: "aws", aws_endpoint_url: moto_endpoint, region: "eu-west-1", tokens_table: table,
                     queue_url: "#{moto_endpoint}/123456789012/missing-#{SecureRandom.hex(4)}")
    expect { missing.generate_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::StoreError, /\ADynamoDB GetItem on table #{table} failed: ResourceNotFoundException \(.*; HTTP 400\)\z/) { |e| one_line(e) }
    expect { missing.enqueue_notification(user_id: 1, room_id: "R", data: 1) }
      .to raise_error(Hermes::QueueError, /\ASQS SendMessage on queue missing-\h+ failed: .*NonExistentQueue/) { |e| one_line(e) }
    no_history = client(backend: "aws", aws_endpoint_url: moto_endpoint, region: "eu-west-1", history_table: table)
    expect { no_history.position(room_id: "R") }
      .to raise_error(Hermes::StoreError, /\ADynamoDB GetItem on table #{table} failed: ResourceNotFoundException/) { |e| one_line(e) }
  end
end
