# frozen_string_literal: true

require "spec_helper"
require "net/http"

# One bad argument, one message, whichever backend the app runs on: the checks and limits are
# hermes-core's (core/src/ids.rs), reached by the native client (aws, memory) and, for the
# local backend, by the same conversions before anything goes to hermes-local. Every call
# that takes an id is here; each row is refused before any store, queue or network is touched.
RSpec.describe "bad ids" do
  not_int = "must be an Integer or a String"
  rows = [
    # [label, call, arguments, message]
    ["nil user", :generate_token, { user_id: nil, company_code: "R" }, "user_id #{not_int}, got NilClass"],
    ["Float user", :generate_token, { user_id: 1.5, company_code: "R" }, "user_id #{not_int}, got Float"],
    ["Symbol user", :compose_token, { user_id: :u, company_code: "R" }, "user_id #{not_int}, got Symbol"],
    ["BasicObject user", :generate_token, { user_id: BasicObject.new, company_code: "R" }, "user_id #{not_int}, got BasicObject"],
    ["empty user", :generate_token, { user_id: "", company_code: "R" }, "user_id must not be empty"],
    ["1,025-byte user", :generate_token, { user_id: "u" * 1025, company_code: "R" }, "user_id is 1025 bytes; at most 1024"],
    ["513 two-byte characters", :compose_token, { user_id: "\u00e9" * 513, company_code: "R" }, "user_id is 1026 bytes; at most 1024"],
    ["2**63 user", :generate_token, { user_id: 2**63, company_code: "R" }, "user_id is out of the 64-bit range"],
    ["invalid UTF-8 user", :generate_token, { user_id: "u\xff", company_code: "R" },
     "user_id is not valid text in its encoding (or not convertible to UTF-8)"],
    ["nil company", :generate_token, { user_id: 1, company_code: nil }, "company_code must be a String, got NilClass"],
    ["empty company", :generate_token, { user_id: 1, company_code: "" }, "company_code must not be empty"],
    ["empty company, composed", :compose_token, { user_id: 1, company_code: "" }, "company_code must not be empty"],
    ["1,025-byte company", :generate_token, { user_id: 1, company_code: "r" * 1025 }, "company_code is 1025 bytes; at most 1024"],
    ["binary company", :generate_token, { user_id: 1, company_code: "\xff".b },
     "company_code is not valid text in its encoding (or not convertible to UTF-8)"],
    ["ids escaping past the URL", :generate_token, { user_id: "\u0001" * 1000, company_code: "R" },
     /\Auser_id and company_code make a \d+-character token; at most 3584 fit in API Gateway's 4,096-character WebSocket URL\z/],
    ["empty company, revoked", :revoke_token, { user_id: 1, company_code: "" }, "company_code must not be empty"],
    ["2**64 user, revoked", :revoke_token, { user_id: 2**64, company_code: "R" }, "user_id is out of the 64-bit range"],
    ["empty user, disconnected", :disconnect, { user_id: "", room_id: "R" }, "user_id must not be empty"],
    ["nil room, disconnected", :disconnect, { user_id: 1, room_id: nil }, "room_id must be a String, got NilClass"],
    ["empty room, presence", :presence, { room_id: "" }, "room_id must not be empty"],
    ["1,025-byte room, presence", :presence, { room_id: "r" * 1025 }, "room_id is 1025 bytes; at most 1024"],
    ["Object room, position", :position, { room_id: Object.new }, "room_id must be a String, got Object"],
    ["empty room, enqueued", :enqueue_notification, { user_id: 1, room_id: "", data: 1 }, "room_id must not be empty"],
    ["Array user, enqueued", :enqueue_notification, { user_id: [1], room_id: "R", data: 1 }, "user_id #{not_int}, got Array"],
    ["empty target", :enqueue_notification, { user_id: 1, room_id: "R", data: 1, to_user_id: "" }, "to_user_id must not be empty"],
    # Was accepted as the text "18446744073709551616" while user_id: 2**64 was refused.
    ["2**64 target", :enqueue_notification, { user_id: 1, room_id: "R", data: 1, to_user_id: 2**64 },
     "to_user_id is out of the 64-bit range"],
    ["Float target", :enqueue_notification, { user_id: 1, room_id: "R", data: 1, to_user_id: 1.5 }, "to_user_id #{not_int}, got Float"],
    ["1,025-byte target", :enqueue_notification, { user_id: 1, room_id: "R", data: 1, to_user_id: "t" * 1025 },
     "to_user_id is 1025 bytes; at most 1024"],
    ["empty room in a batch", :enqueue_notifications, [{ user_id: 1, room_id: "", data: 1 }], "room_id must not be empty"],
    ["2**64 target in a batch", :enqueue_notifications, [{ user_id: 1, room_id: "R", data: 1, to_user_id: 2**64 }],
     "to_user_id is out of the 64-bit range"],
  ]

  def call(backend, method, args)
    args.is_a?(Hash) ? backend.public_send(method, **args) : backend.public_send(method, args)
  end

  shared_examples "refuses each bad id with the same message" do
    rows.each do |label, method, args, message|
      it "#{method}: #{label}" do
        expect { call(subject, method, args) }.to raise_error(ArgumentError, message)
      end
    end
  end

  context "on the memory backend" do
    subject { client }

    include_examples "refuses each bad id with the same message"
  end

  context "on the aws backend (nothing reachable: the ids are refused first)" do
    subject { client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", region: "eu-west-1", queue_url: "http://127.0.0.1:9/q") }

    include_examples "refuses each bad id with the same message"
  end

  context "on the local backend (hermes-local running)" do
    before(:all) { @pid, @port = start_hermes_local }
    after(:all) { stop_hermes_local(@pid) }

    subject { client(backend: "local", local_url: "http://127.0.0.1:#{@port}") }

    include_examples "refuses each bad id with the same message"

    it "gets the same refusals from hermes-local itself, for callers other than the gem" do
      post = lambda do |path, body|
        http = Net::HTTP.new("127.0.0.1", @port)
        response = http.post(path, JSON.generate(body), "Content-Type" => "application/json")
        [response.code, JSON.parse(response.body)["error"]]
      end
      expect(post.("/_hermes/tokens", { user_id: 1, room_id: "" })).to eq(["400", "company_code must not be empty"])
      expect(post.("/_hermes/presence", { room_id: "r" * 1025 })).to eq(["400", "room_id is 1025 bytes; at most 1024"])
      expect(post.("/_hermes/position", { room_id: "" })).to eq(["400", "room_id must not be empty"])
      expect(post.("/_hermes/disconnect", { user_id: "", room_id: "R" })).to eq(["400", "user_id must not be empty"])
      expect(post.("/_hermes/notifications", { user_id: 1, room_id: "R", data: 1, target_user_id: "" }))
        .to eq(["400", "target_user_id must not be empty"])
    end
  end

  it "publishes hermes-core's limits, which the README states" do
    expect(Hermes::Ids::MAX_ID_BYTES).to eq(1024)
    expect(Hermes::Ids::MAX_TOKEN_CHARS).to eq(3584)
    readme = File.read(File.join(ROOT, "README.md"))
    expect(readme).to include("at most 1,024 bytes", "one over 3,584 characters is refused")
  end
end
