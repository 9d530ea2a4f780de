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
    expect(notifications(c)).to eq([{ "user_id" => "u-1", "room_id" => "ACME", "data" => "hi", "target_user_id" => "7" }])
  end

  it "refuses what JSON.generate would only stringify, naming where it is" do
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: { at: Time.now }) }
      .to raise_error(ArgumentError, /data\[:at\] is a Time/)
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: { a: [1, Object.new] }) }
      .to raise_error(ArgumentError, /data\[:a\]\[1\] is an Object/)
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: { 1 => 2 }) }
      .to raise_error(ArgumentError, "data has a key that is an Integer; keys must be Strings or Symbols")
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
    expect(notifications(c).map { |n| n["data"]["n"] }).to eq((1..25).to_a)

    bad = [{ user_id: 1, room_id: "R", data: 1 }, { user_id: 2, room_id: "R", data: "x" * 140_000 }]
    expect { c.enqueue_notifications(bad) }.to raise_error(Hermes::PayloadTooLargeError, /\Aentry #1: the message is 140\d{3} bytes/)
    expect { c.enqueue_notifications([{ user_id: 1, data: 1 }]) }.to raise_error(ArgumentError, /#0 is missing room_id/)
    expect { c.enqueue_notifications([{ user_id: 1, room_id: "R", data: Time.now }]) }.to raise_error(ArgumentError, /Time/)
    expect(raw_bodies(c)).to be_empty
    expect(c.enqueue_notifications([])).to eq([])
  end

  it "needs a queue URL on the aws backend and says which variable" do
    aws = client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", queue_url: nil)
    expect { aws.enqueue_notification(user_id: 1, room_id: "R", data: 1) }
      .to raise_error(Hermes::ConfigurationError, "HERMES_QUEUE_URL is not set: set hermes: queue_url: in the app's " \
                                                  "credentials (bin/rails credentials:edit) or the HERMES_QUEUE_URL environment variable")
  end

  # Everything below once escaped as something other than the documented ArgumentError.
  describe "bad data is an ArgumentError naming where it is" do
    def refused(data, message)
      expect { c.enqueue_notification(user_id: 1, room_id: "R", data: data) }.to raise_error(ArgumentError, message)
      expect(raw_bodies(c)).to be_empty
    end

    def nested(depth)
      depth.times.reduce(1) { |inner, _| { "a" => inner } }
    end

    it "a cycle, in a Hash or an Array" do
      h = { "x" => [1] }
      h["x"] << h
      refused(h, /data\["x"\]\[1\] contains itself \(data\): a cycle/)
      a = [1]
      a << [a]
      refused(a, /data\[1\]\[0\] contains itself \(data\)/)
    end

    it "the same Hash twice, not a cycle, is sent" do
      shared = { "k" => 1 }
      c.enqueue_notification(user_id: 1, room_id: "R", data: [shared, shared])
      expect(notifications(c).first["data"]).to eq([{ "k" => 1 }, { "k" => 1 }])
    end

    it "nesting beyond 100 levels, up to 10,000 (was JSON::NestingError and SystemStackError)" do
      c.enqueue_notification(user_id: 1, room_id: "R", data: nested(100))
      expect(notifications(c).size).to eq(1)
      [101, 3_000, 10_000].each do |depth|
        refused(nested(depth), /data(\["a"\])+.* is nested deeper than 100 levels/)
      end
      message = begin
        c.enqueue_notification(user_id: 1, room_id: "R", data: nested(10_000))
      rescue ArgumentError => e
        e.message
      end
      expect(message.length).to be < 300
    end

    it "a BasicObject (was NoMethodError), or an object whose inspect or class raises" do
      refused({ "b" => BasicObject.new }, /data\["b"\] is a BasicObject \(a BasicObject, not an Object\)/)
      weird = Class.new(BasicObject).new
      refused([weird], /data\[0\] is a #<Class:.*> \(a BasicObject, not an Object\)/)
      loud = Object.new
      def loud.inspect = raise("no")
      def loud.class = raise("no")
      refused([loud], /\Adata\[0\] is an Object; only Hash, Array/)
    end

    it "text that is not valid UTF-8, in a value or a key (was JSON::GeneratorError without a path)" do
      refused({ "t" => "ok \xff" }, /data\["t"\] is a String that is not valid UTF-8/)
      refused({ "k\xff" => 1 }, /data key is a String that is not valid UTF-8/)
      refused(["\xff".b], /data\[0\] is a String that is not valid ASCII-8BIT/)
      c.enqueue_notification(user_id: 1, room_id: "R", data: ["\u00e9".encode("ISO-8859-1"), "plain".b])
      expect(notifications(c).first["data"]).to eq(["\u00e9", "plain"])
    end
  end

  it "refuses the ids generate_token refuses: empty, invalid UTF-8, too long" do
    expect { c.enqueue_notification(user_id: 1, room_id: "", data: 1) }.to raise_error(ArgumentError, "room_id must not be empty")
    expect { c.enqueue_notification(user_id: "", room_id: "R", data: 1) }.to raise_error(ArgumentError, "user_id must not be empty")
    expect { c.enqueue_notification(user_id: 1, room_id: "R", data: 1, to_user_id: "") }
      .to raise_error(ArgumentError, "to_user_id must not be empty")
    expect { c.enqueue_notification(user_id: "u\xff", room_id: "R", data: 1) }
      .to raise_error(ArgumentError, /user_id is not valid text/)
    expect { c.enqueue_notification(user_id: 1, room_id: "r" * 1025, data: 1) }
      .to raise_error(ArgumentError, "room_id is 1025 bytes; at most 1024")
    expect { c.enqueue_notifications([{ user_id: 1, room_id: "", data: 1 }]) }.to raise_error(ArgumentError, /room_id must not be empty/)
    expect(raw_bodies(c)).to be_empty
  end

  # Found by feeding the memory backend what an app could pass by mistake.
  describe "hostile input" do
    def refusal(&block)
      block.call
      raise "nothing was refused"
    rescue ArgumentError, Hermes::ConfigurationError => e
      e.message
    end

    it "a list that is not an Array of Hashes is an ArgumentError saying so (was a multi-line NoMethodError)" do
      one = { user_id: 1, room_id: "R", data: 1 }
      { nil => "NilClass", "notifications" => "String", one => "Hash" }.each do |list, type|
        expect { c.enqueue_notifications(list) }
          .to raise_error(ArgumentError, "notifications must be an Array of Hashes, got #{type}")
      end
      [[[BasicObject.new], 0, "BasicObject"], [[[1, 2]], 0, "Array"], [[one, "two"], 1, "String"]].each do |list, index, type|
        expect { c.enqueue_notifications(list) }
          .to raise_error(ArgumentError, "notification ##{index} must be a Hash with :user_id, :room_id and :data, got #{type}")
      end
      expect(raw_bodies(c)).to be_empty
    end

    it "a refusal names the path and the type of what is wrong, never its value" do
      secret = "hermes-spec-secret-#{rand(10**12)}"
      ENV["HERMES_SPEC_PROBE"] = secret
      holder = Struct.new(:token).new(secret)
      enqueue = ->(data) { refusal { c.enqueue_notification(user_id: 1, room_id: "R", data: data) } }
      messages = {
        env: enqueue.({ "e" => ENV }),
        holder: enqueue.([holder]),
        secret_key: enqueue.({ secret => Time.now }),
        holder_key: enqueue.({ holder => 1 }),
        big: enqueue.({ n: 2**64 + 12_345_678_987 }),
        setting: refusal { Hermes::Configuration.new({}).apply(secret => 1) },
      }
      expect(messages).to match(
        env: %(data["e"] is an Object; only Hash, Array, String, Symbol, Integer, Float, true, false and nil can be sent),
        holder: start_with("data[0] is a #<Class:"),
        secret_key: start_with("data[key #0] is a Time;"),
        holder_key: start_with("data has a key that is a #<Class:"),
        big: "data[:n] is an Integer outside the 64-bit range JSON numbers keep",
        setting: start_with("unknown Hermes setting (a String that is not a setting name)"),
      )
      messages.each_value do |m|
        expect(m).not_to include(secret[-12..])
        expect(m).not_to include("12345678987")
      end
    ensure
      ENV.delete("HERMES_SPEC_PROBE")
    end

    it "a short key that looks like a field name is shown in the path" do
      expect(refusal { c.enqueue_notification(user_id: 1, room_id: "R", data: { list: [{ "at" => Time.now }] }) })
        .to start_with(%(data[:list][0]["at"] is a Time;))
    end

    it "a Hash, Array or String subclass is sent as what it holds: its own #to_json never runs (was its error escaping)" do
      loud_hash = Class.new(Hash) { def to_json(*) = raise("to_json ran") }
      loud_array = Class.new(Array) { def to_json(*) = raise("to_json ran") }
      quiet = +"text"
      def quiet.to_json(*) = '"something else"'
      h = loud_hash.new
      h["list"] = loud_array.new([1, quiet])
      h[:sym] = :value
      c.enqueue_notification(user_id: 1, room_id: "R", data: h)
      expect(raw_bodies(c)).to eq([%({"user_id":1,"room_id":"R","data":{"list":[1,"text"],"sym":"value"}})])
      c.enqueue_notifications([{ user_id: 1, room_id: "R", data: [h] }])
      expect(notifications(c).map { |n| n["data"] }).to eq([[{ "list" => [1, "text"], "sym" => "value" }]])
    end
  end
end
