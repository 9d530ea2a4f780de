# frozen_string_literal: true

require "spec_helper"
require "jwt"

# Hermes.broadcast and its batch, a stream's presence and the token of a page of nobody, on the
# memory backend (what queues is read back as SQS would hold it).
RSpec.describe "streams" do
  let(:c) { client }

  def broadcasts(client)
    records(client).select { |r| r["hermes"] == "broadcast" }
  end

  describe "broadcast" do
    it "queues the broadcast record with data serialised exactly as JSON.generate does" do
      data = { html: "<turbo-stream action=\"append\">ü ✓</turbo-stream>", n: [1, 2.5, nil, true] }
      id = c.broadcast(stream: "board_1", data: data)
      expect(id).to match(/\S/)
      expect(raw_bodies(c)).to eq([%({"hermes":"broadcast","stream":"board_1","data":#{JSON.generate(data)}})])
    end

    it "names a stream as turbo-rails' stream_name_from does" do
      record = Struct.new(:id) { def to_gid_param = "Z2lkOi8vYXBwL0JvYXJkLyN7aWR9" }.new(1)
      param = Struct.new(:id) { def to_param = id.to_s }.new(7)
      c.broadcast(stream: [record, :messages], data: 1)
      c.broadcast(stream: :board, data: 2)
      c.broadcast(stream: param, data: 3)
      c.broadcast(stream: ["a", nil, 5, ["b", :c]], data: 4)
      expect(broadcasts(c).map { |b| b["stream"] })
        .to eq(["Z2lkOi8vYXBwL0JvYXJkLyN7aWR9:messages", "board", "7", "a::5:b:c"])
    end

    it "refuses a bad name or bad data before anything is queued, naming what is wrong" do
      expect { c.broadcast(stream: "", data: 1) }.to raise_error(ArgumentError, "a stream name must not be empty")
      expect { c.broadcast(stream: "x" * 1025, data: 1) }.to raise_error(ArgumentError, "the stream name is 1025 bytes; at most 1024")
      expect { c.broadcast(stream: nil, data: 1) }
        .to raise_error(ArgumentError, "stream must be a String, a Symbol, a record or an Array of them, got NilClass")
      expect { c.broadcast(stream: "s", data: { at: Time.now }) }.to raise_error(ArgumentError, /data\[:at\] is a Time/)
      expect { c.broadcast(stream: "s", data: "x" * 131_000) }.to raise_error(Hermes::PayloadTooLargeError, /131072/)
      expect(raw_bodies(c)).to be_empty
    end

    it "sends JSON text byte for byte with broadcast_json, and only JSON" do
      json = '"\u003cturbo-stream action=\"remove\" target=\"card_1\"\u003e\u003c/turbo-stream\u003e"'
      c.broadcast_json(stream: "board_1", json: json)
      expect(raw_bodies(c)).to eq([%({"hermes":"broadcast","stream":"board_1","data":#{json}})])
      expect { c.broadcast_json(stream: "s", json: "<turbo-stream>") }.to raise_error(ArgumentError, /data is not valid JSON/)
      expect { c.broadcast_json(stream: "s", json: "1 2") }.to raise_error(ArgumentError, /data is not valid JSON/)
      expect { c.broadcast_json(stream: "s", json: { a: 1 }) }
        .to raise_error(ArgumentError, "json must be a String of JSON text, got Hash")
      expect(raw_bodies(c)).to be_empty
    end
  end

  describe "broadcast_many" do
    it "queues in order, returning the ids, and all or nothing on bad input" do
      ids = c.broadcast_many((1..23).map { |i| { stream: "s#{i % 3}", data: { n: i } } })
      expect(ids.size).to eq(23)
      expect(ids.uniq.size).to eq(23)
      expect(broadcasts(c).map { |b| b["data"]["n"] }).to eq((1..23).to_a)

      expect { c.broadcast_many([{ stream: "s", data: 1 }, { "stream" => "s", "data" => "x" * 140_000 }]) }
        .to raise_error(Hermes::PayloadTooLargeError, /\Aentry #1: the message is 140\d{3} bytes/)
      expect { c.broadcast_many([{ stream: "s" }]) }.to raise_error(ArgumentError, "broadcast #0 is missing data")
      expect { c.broadcast_many([1]) }.to raise_error(ArgumentError, "broadcast #0 must be a Hash with :stream and :data, got Integer")
      expect { c.broadcast_many({ stream: "s", data: 1 }) }.to raise_error(ArgumentError, "broadcasts must be an Array of Hashes, got Hash")
      expect { c.broadcast_many([{ stream: "", data: 1 }]) }.to raise_error(ArgumentError, "a stream name must not be empty")
      expect(raw_bodies(c)).to be_empty
      expect(c.broadcast_many([])).to eq([])
    end
  end

  it "tells who is subscribed to a stream, without the pages of nobody" do
    memory = Hermes::Testing.memory(c)
    memory.subscribe("c1", user_id: 42, stream: "board_1")
    memory.subscribe("c2", user_id: 7, stream: "board_1")
    memory.subscribe("c3", user_id: 42, stream: "board_1")
    memory.subscribe("c4", user_id: nil, stream: "board_1")
    memory.subscribe("c5", user_id: 9, stream: "board_2")
    expect(c.presence(stream: "board_1")).to eq(%w[42 7])
    expect(c.presence(stream: [:board, 2].join("_"))).to eq(%w[9])
    expect(c.presence(stream: "nobody-here")).to eq([])
    expect { c.presence }.to raise_error(ArgumentError, "presence takes room_id: or stream:, not neither")
    expect { c.presence(room_id: "R", stream: "s") }.to raise_error(ArgumentError, "presence takes room_id: or stream:, not both")
    expect { c.presence(stream: nil) }
      .to raise_error(ArgumentError, "stream must be a String, a Symbol, a record or an Array of them, got NilClass")
    memory.clear_connections
    expect(c.presence(stream: "board_1")).to eq([])
  end

  it "mints the token of a page of nobody: signed streams only, no user, no room, nothing stored" do
    token = c.streams_token
    claims, = JWT.decode(token, SECRET, true, algorithm: "HS512")
    expect(claims.keys).to contain_exactly("scope", "exp", "iat")
    expect(claims["scope"]).to eq("streams")
    expect(claims["exp"]).to be_within(5).of(Time.now.to_i + 3600)
    expect(raw_bodies(c)).to be_empty
  end
end
