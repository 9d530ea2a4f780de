# frozen_string_literal: true

require "spec_helper"
require "open3"

# The test surface (Hermes::Testing, Hermes::Native::MemoryBackend) is apart from the classes a
# Rails app calls in production, and only reaches a memory backend.
RSpec.describe "the test surface" do
  it "is not part of the production classes" do
    script = <<~RUBY
      require "hermes"
      puts JSON.generate(client: Hermes::Client.instance_methods(false).sort,
                         native: Hermes::Native::Client.instance_methods(false).sort,
                         testing: defined?(Hermes::Testing).to_s)
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.join(ROOT, "lib"), "-e", script)
    expect(status).to be_success, out
    methods = JSON.parse(out.lines.last)
    expect(methods["native"]).to eq(%w[backend broadcast broadcast_batch compose_token disconnect enqueue enqueue_batch
                                       generate_token position presence revoke_token stream_key stream_presence
                                       streams_token])
    expect(methods["client"]).to eq(%w[backend broadcast broadcast_json broadcast_many check_token compose_token config
                                       disconnect enqueue_notification enqueue_notifications generate_token position
                                       presence revoke_token stream_key streams_token])
    expect(methods["testing"]).to eq("")
  end

  it "refuses a client that is not on the memory backend" do
    aws = client(backend: "aws", aws_endpoint_url: "http://127.0.0.1:9", region: "eu-west-1")
    expect { Hermes::Testing.memory(aws) }.to raise_error(ArgumentError, "Hermes::Testing needs the memory backend, not aws")
    local = client(backend: "local", local_url: "http://127.0.0.1:9")
    expect { Hermes::Testing.memory(local) }.to raise_error(ArgumentError, "Hermes::Testing needs the memory backend, not local")
    native = Hermes::Native::Client.new(aws.config.to_env)
    expect { Hermes::Native::MemoryBackend.new(native) }
      .to raise_error(ArgumentError, "Hermes::Testing needs the memory backend, not aws")
  end

  it "sees what its client queued and connected, and clears it" do
    c = client
    memory = Hermes::Testing.memory(c)
    c.enqueue_notification(user_id: 1, room_id: "R", data: { "a" => 1 })
    c.disconnect(user_id: 2, room_id: "R")
    c.broadcast(stream: "S", data: [1])
    expect(memory.records).to eq([{ "user_id" => 1, "room_id" => "R", "data" => { "a" => 1 } },
                                  { "hermes" => "disconnect", "target" => { "room_id" => "R", "user_id" => "2" }, "reason" => "disconnect" },
                                  { "hermes" => "broadcast", "stream" => "S", "data" => [1] }])
    expect(memory.records).to eq([])
    memory.connect("c1", user_id: 5, room_id: "R")
    memory.subscribe("c1", user_id: 5, stream: "S")
    expect(c.presence(room_id: "R")).to eq(["5"])
    expect(c.presence(stream: "S")).to eq(["5"])
    memory.clear_connections
    expect(c.presence(room_id: "R")).to eq([])
    expect(c.presence(stream: "S")).to eq([])
  end
end
