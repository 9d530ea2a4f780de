# frozen_string_literal: true

require "spec_helper"
require "securerandom"

# Presence, disconnect and revocation that reaches live sockets (docs/protocol.md), on the memory
# backend and on DynamoDB/SQS (moto).
RSpec.describe "presence, disconnect and revocation" do
  let(:c) { client }

  def disconnect_record(user, room, reason)
    { "hermes" => "disconnect", "target" => { "room_id" => room, "user_id" => user }, "reason" => reason }
  end

  it "revoke_token deletes the hash and queues the disconnect that closes the user's sockets" do
    token = c.generate_token(user_id: 42, company_code: "ACME")
    expect(token.count(".")).to eq(2)
    expect(c.revoke_token(user_id: 42, company_code: "ACME")).to be(true)
    expect(records(c)).to eq([disconnect_record("42", "ACME", "revoked")])
    # Revoking what is not there still closes any socket left open.
    expect(c.revoke_token(user_id: 42, company_code: "ACME")).to be(false)
    expect(records(c)).to eq([disconnect_record("42", "ACME", "revoked")])
  end

  it "a disconnect record carries none of the seed's fields, so a seed send Lambda posts nothing" do
    id = c.disconnect(user_id: "u-7", room_id: :ACME)
    expect(id).to match(/\S/)
    body = raw_bodies(c).first
    expect(JSON.parse(body).keys).to eq(%w[hermes target reason])
    expect(body).to eq('{"hermes":"disconnect","target":{"room_id":"ACME","user_id":"u-7"},"reason":"disconnect"}')
  end

  it "the test surface's notifications leave disconnect records out" do
    c.enqueue_notification(user_id: 1, room_id: "R", data: 1)
    c.disconnect(user_id: 1, room_id: "R")
    expect(notifications(c)).to eq([{ "user_id" => 1, "room_id" => "R", "data" => 1 }])
  end

  it "presence lists the room's distinct users, sorted, from the room index" do
    expect(c.presence(room_id: "ACME")).to eq([])
    Hermes::Testing.memory(c).connect("c1", user_id: 42, room_id: "ACME")
    Hermes::Testing.memory(c).connect("c2", user_id: 42, room_id: "ACME")
    Hermes::Testing.memory(c).connect("c3", user_id: "7", room_id: "ACME")
    Hermes::Testing.memory(c).connect("c4", user_id: 9, room_id: "OTHER")
    expect(c.presence(room_id: "ACME")).to eq(%w[42 7])
    expect(c.presence(room_id: "OTHER")).to eq(["9"])
  end

  it "refuses bad arguments with ArgumentError naming them" do
    expect { c.presence(room_id: nil) }.to raise_error(ArgumentError, /room_id must be a String/)
    expect { c.presence(room_id: "") }.to raise_error(ArgumentError, /room_id must not be empty/)
    expect { c.presence(room_id: "r" * 1025) }.to raise_error(ArgumentError, /room_id is 1025 bytes; at most 1024/)
    expect { c.disconnect(user_id: 1.5, room_id: "R") }.to raise_error(ArgumentError, /user_id must be an Integer or a String/)
    expect { c.disconnect(user_id: "", room_id: "R") }.to raise_error(ArgumentError, /user_id/)
  end

  it "revoking needs the queue and says so before touching the token" do
    aws = client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", queue_url: nil)
    expect { aws.revoke_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::ConfigurationError, /\AHERMES_QUEUE_URL is not set: set hermes: queue_url:/)
    expect { aws.disconnect(user_id: 1, room_id: "R") }
      .to raise_error(Hermes::ConfigurationError, /\AHERMES_QUEUE_URL is not set/)
  end

  it "answers for Hermes and Notification::NotificationAuthorizer alike" do
    expect(Hermes).to respond_to(:presence, :disconnect)
    expect(Hermes::NotificationAuthorizer).to respond_to(:presence, :disconnect)
  end

  context "on DynamoDB and SQS" do
    let(:queue) { boto(%(print(json.dumps(sqs.create_queue(QueueName="rev-#{SecureRandom.hex(4)}")["QueueUrl"])))) }
    let(:aws) { client(backend: "aws", aws_endpoint_url: moto_endpoint, queue_url: queue, region: "eu-west-1") }
    let(:room) { "room-#{SecureRandom.hex(6)}" }

    def bodies(queue)
      boto(<<~PY)
        out = []
        for _ in range(5):
            r = sqs.receive_message(QueueUrl=#{queue.inspect}, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=#{queue.inspect}, ReceiptHandle=m["ReceiptHandle"])
            if out: break
        print(json.dumps(out))
      PY
    end

    it "presence is a Query on room_id-index" do
      boto(<<~PY)
        for cid, user in [("a", "42"), ("b", "42"), ("c", "7")]:
            ddb.put_item(TableName="hermesConnections", Item={"connection_id": {"S": #{room.inspect} + cid}, "room_id": {"S": #{room.inspect}}, "user_id": {"S": user}, "connected_at": {"N": "1"}, "expires_at": {"N": "9999999999"}})
        print("null")
      PY
      expect(aws.presence(room_id: room)).to eq(%w[42 7])
      expect(aws.presence(room_id: "#{room}-empty")).to eq([])
    end

    it "revoke_token deletes the row and puts the disconnect on SQS" do
      aws.generate_token(user_id: 5, company_code: room)
      expect(aws.revoke_token(user_id: 5, company_code: room)).to be(true)
      expect(bodies(queue)).to eq([disconnect_record("5", room, "revoked")])
      row = boto(%(print(json.dumps(ddb.get_item(TableName="hermesTokens", Key={"user_id": {"S": "5"}, "room_id": {"S": #{room.inspect}}}).get("Item")))))
      expect(row).to be_nil
    end

    it "a revocation whose disconnect cannot be queued keeps the token revoked and says so" do
      no_queue = client(backend: "aws", aws_endpoint_url: moto_endpoint, queue_url: "#{queue}-gone", region: "eu-west-1")
      aws.generate_token(user_id: 6, company_code: room)
      expect { no_queue.revoke_token(user_id: 6, company_code: room) }.to raise_error(Hermes::QueueError) { |e|
        expect(e.message).to match(/\Athe token was revoked, but closing the user's open sockets could not be queued: SQS SendMessage/)
        expect(e.message).not_to include("\n")
      }
      row = boto(%(print(json.dumps(ddb.get_item(TableName="hermesTokens", Key={"user_id": {"S": "6"}, "room_id": {"S": #{room.inspect}}}).get("Item")))))
      expect(row).to be_nil
    end

    it "reports an unreachable DynamoDB as a one-line Hermes::StoreError" do
      dead = client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", region: "eu-west-1", queue_url: "http://127.0.0.1:9/q")
      expect { dead.presence(room_id: "R") }.to raise_error(Hermes::StoreError) { |e|
        expect(e.message).to match(/DynamoDB Query on table hermesConnections failed/)
        expect(e.message).not_to include("\n")
      }
    end
  end
end
