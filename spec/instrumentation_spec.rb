# frozen_string_literal: true

require "spec_helper"
require "open3"
require "active_support/notifications"

RSpec.describe "ActiveSupport::Notifications events" do
  let(:c) { client }
  let(:events) { [] }

  around do |example|
    subscriber = ActiveSupport::Notifications.subscribe(/\.hermes\z/) do |name, start, finish, _id, payload|
      events << { name: name, payload: payload.dup, ms: (finish - start) * 1000.0 }
    end
    example.run
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  # Every value in the payloads, nested ones and exceptions' messages included, as text.
  def texts(value = events.map { |e| e[:payload] })
    case value
    when Hash then value.flat_map { |k, v| [k.to_s, *texts(v)] }
    when Array then value.flat_map { |v| texts(v) }
    when Exception then [value.class.name, value.message]
    else [value.to_s]
    end
  end

  it "mint.hermes: a room token (generate_token, check_token, compose_token) and a streams token, never the token" do
    jwt = c.generate_token(user_id: 42, company_code: "ACME")
    again = c.check_token(user_id: 42, company_code: :ACME)
    hex = c.compose_token(user_id: "u-7", company_code: 9)
    streams = c.streams_token
    expect(events.map { |e| [e[:name], e[:payload]] }).to eq([
      ["mint.hermes", { kind: "room", user_id: 42, room_id: "ACME", via: "api" }],
      ["mint.hermes", { kind: "room", user_id: 42, room_id: :ACME, via: "api" }],
      ["mint.hermes", { kind: "room", user_id: "u-7", room_id: 9, via: "api" }],
      ["mint.hermes", { kind: "streams", via: "api" }],
    ])
    expect(events.map { |e| e[:ms] }).to all(be >= 0)
    # bcrypt (cost 4) runs inside the first event: its duration is the mint's.
    expect(events.first[:ms]).to be > 0
    secrets = [jwt, again, hex, streams, SECRET, PASSCODE, *jwt.split("."), Hermes::Native.stream_key(SECRET)]
    expect(texts.select { |t| secrets.any? { |s| t.include?(s) } }).to eq([])
  end

  it "enqueue.hermes: room, sender, target, bytes of the data as JSON and the message id; one event per batch" do
    data = { type: "info", data: "Backup finished ✓" }
    id = c.enqueue_notification(user_id: 42, room_id: "ACME", data: data)
    c.enqueue_notification(user_id: 1, room_id: "ACME", data: "hi", to_user_id: 7)
    ids = c.enqueue_notifications([{ user_id: 1, room_id: "A", data: [1, 2] }, { "user_id" => 2, "room_id" => "B", "data" => "ü" },
                                   { user_id: 3, room_id: "A", data: nil }])
    expect(events.map { |e| e[:name] }).to eq(["enqueue.hermes"] * 3)
    expect(events[0][:payload]).to eq(room_id: "ACME", user_id: 42, count: 1, bytes: JSON.generate(data).bytesize,
                                      message_id: id, via: "api")
    expect(events[1][:payload]).to include(to_user_id: 7, bytes: 4)
    expect(events[2][:payload]).to eq(room_ids: %w[A B], count: 3, bytes: "[1,2]".bytesize + "\"ü\"".bytesize + "null".bytesize,
                                      message_ids: ids, via: "api")
    expect(texts).not_to include(a_string_including("Backup finished"))
  end

  it "broadcast.hermes: the stream's name (streamables as turbo_stream_from names them), bytes and message ids" do
    id = c.broadcast(stream: [:board, 1, :cards], data: { moved: 7 })
    json_id = c.broadcast_json(stream: "board_1", json: %("<turbo-stream action=\\"append\\">"))
    ids = c.broadcast_many([{ stream: "s1", data: 1 }, { stream: "s2", data: "ab" }, { stream: "s1", data: true }])
    expect(events.map { |e| [e[:name], e[:payload]] }).to eq([
      ["broadcast.hermes", { stream: "board:1:cards", count: 1, bytes: 11, message_id: id, via: "api" }],
      ["broadcast.hermes", { stream: "board_1", count: 1, bytes: 34, message_id: json_id, via: "api" }],
      ["broadcast.hermes", { streams: %w[s1 s2], count: 3, bytes: 1 + 4 + 4, message_ids: ids, via: "api" }],
    ])
  end

  it "ends the event of a call that fails, with the exception, and sends none for arguments refused before" do
    expect { c.enqueue_notification(user_id: 1, room_id: "x" * 1025, data: 1) }.to raise_error(ArgumentError)
    expect { c.broadcast(stream: "s", data: { at: Time.now }) }.to raise_error(ArgumentError, /data\[:at\] is a Time/)
    expect(events.size).to eq(1)
    failed = events.first[:payload]
    expect(failed).to include(count: 1, bytes: 1, exception: [ArgumentError.name, a_string_including("room_id")])
    expect(failed).not_to have_key(:message_id)
  end

  it "says which part of the gem minted or broadcast (via), and puts it back after the block, even one that raised" do
    Hermes::Instrumentation.via("connect_tag") { c.generate_token(user_id: 1, company_code: "A") }
    expect do
      Hermes::Instrumentation.via("token_endpoint") do
        c.streams_token
        raise "boom"
      end
    end.to raise_error("boom")
    c.streams_token
    expect(events.map { |e| e[:payload][:via] }).to eq(%w[connect_tag token_endpoint api])
  end

  # In a process of its own: Action Cable loads the whole of ActiveSupport.
  it "through Action Cable's adapter: a broadcast.hermes event via action_cable, with the encoded message's bytes" do
    code = <<~RUBY
      require "json"
      require "action_cable"
      require "action_cable/subscription_adapter/hermes"
      Hermes.configure { |c| c.apply(jwt_secret: #{SECRET.inspect}, passcode: "p", backend: "memory", bcrypt_cost: 4) }
      seen = []
      ActiveSupport::Notifications.subscribe("broadcast.hermes") { |*, payload| seen << payload }
      adapter = ActionCable::SubscriptionAdapter::Hermes.new(Struct.new(:logger).new(nil))
      adapter.broadcast("Z2lkOi8vYXBwL0JvYXJkLzE", %("<turbo-stream action='remove'>"))
      adapter.broadcast("plain", { "a" => 1 })
      print JSON.generate(seen)
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.join(ROOT, "lib"), "-e", code)
    expect(status).to be_success, out
    seen = JSON.parse(out)
    expect(seen.map { |p| p.except("message_id") }).to eq([
      { "stream" => "Z2lkOi8vYXBwL0JvYXJkLzE", "count" => 1, "bytes" => 32, "via" => "action_cable" },
      { "stream" => "plain", "count" => 1, "bytes" => 7, "via" => "action_cable" },
    ])
    expect(seen.map { |p| p["message_id"] }).to all(match(/\S/))
  end

  it "needs no ActiveSupport: without it the gem loads none and its calls work" do
    code = <<~RUBY
      require "hermes"
      config = Hermes::Configuration.new({})
      config.apply(jwt_secret: #{SECRET.inspect}, passcode: "p", backend: "memory", bcrypt_cost: 4)
      c = Hermes::Client.new(config)
      c.generate_token(user_id: 1, company_code: "A")
      c.enqueue_notification(user_id: 1, room_id: "A", data: 1)
      c.broadcast(stream: "s", data: 1)
      print defined?(ActiveSupport).inspect
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.join(ROOT, "lib"), "-e", code)
    expect(status).to be_success, out
    expect(out).to eq("nil")
  end
end
