# frozen_string_literal: true

require "spec_helper"

RSpec.describe "enqueue_notification" do
  let(:c) { client }

  it "queues the seed's body with data serialised exactly as JSON.generate does" do
    data = { type: "info", "data" => { list: [1, -2, 3.25, 1e20, nil, true, false, :sym, "ü ✓ \"q\" \n"], empty: {} } }
    id = c.enqueue_notification(user_id: 42, room_id: "ACME", data: data)
    expect(id).to match(/\S/)
    expect(raw_bodies(c)).to eq([%({"user_id":42,"room_id":"ACME","data":#{JSON.generate(data)}})])
  end

  it "keeps the sender's id type and the optional target" do
    c.enqueue_notification(user_id: "u-1", room_id: :ACME, data: "hi", to_user_id: 7)
    expect(c.drain_notifications).to eq([{ "user_id" => "u-1", "room_id" => "ACME", "data" => "hi", "target_user_id" => "7" }])
  end

  it "refuses what JSON.generate would only stringify, naming where it is" do
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: { at: Time.now }) }
      .to raise_error(ArgumentError, /data\[:at\] is a Time/)
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: { a: [1, Object.new] }) }
      .to raise_error(ArgumentError, /data\[:a\]\[1\] is a Object/)
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: { 1 => 2 }) }
      .to raise_error(ArgumentError, /Integer key 1/)
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: [Float::NAN]) }
      .to raise_error(ArgumentError, /data\[0\] is NaN/)
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: 2**70) }
      .to raise_error(ArgumentError, /64-bit/)
    expect(raw_bodies(c)).to be_empty
  end

  it "refuses a payload over API Gateway's 128 KB before it is queued" do
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: "x" * 131_000) }
      .to raise_error(Hermes::PayloadTooLargeError, /131072/)
    expect(raw_bodies(c)).to be_empty
    c.enqueue_notification(user_id: 1, room_id: "R", data: "x" * 130_000)
    expect(raw_bodies(c).size).to eq(1)
  end

  it "queues batches in order and all-or-nothing on bad input" do
    list = (1..25).map { |i| { user_id: i, room_id: "R", data: { n: i } } }
    ids = c.enqueue_notifications(list)
    expect(ids.size).to eq(25)
    expect(ids.uniq.size).to eq(25)
    expect(c.drain_notifications.map { |n| n["data"]["n"] }).to eq((1..25).to_a)

    bad = [{ user_id: 1, room_id: "R", data: 1 }, { user_id: 2, room_id: "R", data: "x" * 140_000 }]
    expect { c.enqueue_notifications(bad) }.to raise_error(Hermes::PayloadTooLargeError, /notification #1/)
    expect { c.enqueue_notifications([{ user_id: 1, data: 1 }]) }.to raise_error(ArgumentError, /#0 is missing room_id/)
    expect { c.enqueue_notifications([{ user_id: 1, room_id: "R", data: Time.now }]) }.to raise_error(ArgumentError, /Time/)
    expect(raw_bodies(c)).to be_empty
    expect(c.enqueue_notifications([])).to eq([])
  end

  it "needs a queue URL on the aws backend and says which variable" do
    aws = client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", queue_url: nil)
    expect { aws.enqueue_notification(user_id: 1, room_id: "R", data: 1) }
      .to raise_error(Hermes::ConfigurationError, "HERMES_QUEUE_URL is not set")
  end
end
