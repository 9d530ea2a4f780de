# frozen_string_literal: true

require "spec_helper"
require "jwt"
require "digest"

# HERMES_BACKEND=local against a real hermes-local (memory backend): what a Rails app in
# development does with nothing but `script/run` running.
RSpec.describe "the local backend" do
  before(:all) { @pid, @port = start_hermes_local }
  after(:all) { stop_hermes_local(@pid) }

  let(:local) { client(backend: "local", local_url: "http://127.0.0.1:#{@port}") }

  it "mints through hermes-local with the same secret and passcode" do
    token = local.generate_token(user_id: 42, company_code: "ACME")
    claims, = JWT.decode(token, SECRET, true, algorithm: "HS512")
    expect(claims).to include("user_id" => 42, "room_id" => "ACME")
    expect(local.compose_token(user_id: 42, company_code: "ACME")).to eq(Digest::SHA256.hexdigest("42#{PASSCODE}ACME"))
    expect(local.revoke_token(user_id: 42, company_code: "ACME")).to be(true)
    expect(local.revoke_token(user_id: 42, company_code: "ACME")).to be(false)
  end

  it "enqueues through hermes-local, one or a batch" do
    expect(local.enqueue_notification(user_id: 1, room_id: "ACME", data: { type: "info" })).to match(/\S/)
    expect(local.enqueue_notifications([{ user_id: 1, room_id: "R", data: 1 }, { user_id: 2, room_id: "R", data: 2 }]).size).to eq(2)
    expect { local.enqueue_notification(user_id: 1, room_id: "R", data: "x" * 140_000) }
      .to raise_error(Hermes::PayloadTooLargeError, /413/)
    deepest = 100.times.reduce(1) { |inner, _| [inner] }
    expect(local.enqueue_notification(user_id: 1, room_id: "R", data: deepest, to_user_id: 2)).to match(/\S/)
  end

  it "refuses bad ids with the ArgumentErrors of the native backend" do
    expect { local.enqueue_notification(user_id: 1, room_id: "", data: 1) }.to raise_error(ArgumentError, "room_id must not be empty")
    expect { local.generate_token(user_id: 1, company_code: "") }.to raise_error(ArgumentError, "company_code must not be empty")
    expect { local.generate_token(user_id: "u\xff", company_code: "R") }.to raise_error(ArgumentError, /user_id is not valid text/)
    expect { local.generate_token(user_id: 1.5, company_code: "R") }
      .to raise_error(ArgumentError, "user_id must be an Integer or a String, got Float")
    expect { local.generate_token(user_id: "u" * 1025, company_code: "R") }.to raise_error(ArgumentError, /1025 bytes; at most 1024/)
    # What only hermes-local (hermes-core) checks comes back as an ArgumentError too.
    expect { local.generate_token(user_id: "\u0001" * 1000, company_code: "R") }
      .to raise_error(ArgumentError, /-character token; at most 3584/)
  end

  it "reads presence and queues disconnects through hermes-local" do
    expect(local.presence(room_id: "EMPTY-ROOM")).to eq([])
    expect(local.disconnect(user_id: 42, room_id: "ACME")).to match(/\S/)
    local.generate_token(user_id: 43, company_code: "ACME")
    expect(local.revoke_token(user_id: 43, company_code: "ACME")).to be(true)
  end

  it "reads a room's position through hermes-local once its history has messages" do
    expect(local.position(room_id: "NO-MESSAGES-YET")).to eq(seq: 0, epoch: nil)
    2.times { |i| local.enqueue_notification(user_id: 1, room_id: "POSITION", data: i) }
    position = nil
    200.times do # the gateway's poller sequences them: wait for it, up to 20 s
      position = local.position(room_id: "POSITION")
      break if position[:seq] == 2

      sleep 0.1
    end
    expect(position).to match(seq: 2, epoch: /\A\h{16}\z/)
    expect { local.position(room_id: "") }.to raise_error(ArgumentError, "room_id must not be empty")
  end

  it "mints the token of a page of nobody and broadcasts through hermes-local" do
    claims, = JWT.decode(local.streams_token, SECRET, true, algorithm: "HS512")
    expect(claims.keys).to contain_exactly("scope", "exp", "iat")
    expect(claims["scope"]).to eq("streams")
    expect(local.broadcast(stream: [:board, 1], data: { html: "<p>ü</p>" })).to match(/\S/)
    expect(local.broadcast_json(stream: "board_1", json: '"\u003cturbo-stream\u003e"')).to match(/\S/)
    ids = local.broadcast_many([{ stream: "a", data: 1 }, { "stream" => "b", "data" => [2] }])
    expect(ids.size).to eq(2)
    expect(local.presence(stream: "board_1")).to eq([])
  end

  it "refuses bad broadcasts with the errors of the native backend, before sending anything" do
    native = client
    [
      ->(c) { c.broadcast(stream: "", data: 1) },
      ->(c) { c.broadcast(stream: "s" * 1025, data: 1) },
      ->(c) { c.broadcast_json(stream: "s", json: "<p>") },
      ->(c) { c.broadcast(stream: "s", data: "x" * 140_000) },
      ->(c) { c.broadcast_many([{ stream: "s", data: 1 }, { stream: "s", data: "x" * 140_000 }]) },
      ->(c) { c.presence(stream: "") },
    ].each do |call|
      expected = begin
        call.(native)
        nil
      rescue ArgumentError, Hermes::Error => e
        e
      end
      expect(expected).not_to be_nil
      expect { call.(local) }.to raise_error(expected.class, expected.message)
    end
    dead = client(backend: "local", local_url: "http://127.0.0.1:9")
    expect { dead.broadcast(stream: "", data: 1) }.to raise_error(ArgumentError, "a stream name must not be empty")
  end

  it "says plainly when hermes-local is not running" do
    dead = client(backend: "local", local_url: "http://127.0.0.1:9")
    expect { dead.generate_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::LocalBackendError, %r{cannot reach hermes-local at http://127.0.0.1:9})
  end
end
