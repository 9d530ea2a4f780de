# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "json"
require "socket"
require "hermes"
require "hermes/testing"

ROOT = File.expand_path("..", __dir__)
SECRET = "spec-secret-for-hs512-0123456789-abcdefghij"
PASSCODE = "spec-passcode"

module SpecHelpers
  # A client on its own configuration (the process-wide one is left alone).
  def client(**settings)
    config = Hermes::Configuration.new({})
    config.apply({ jwt_secret: SECRET, passcode: PASSCODE, backend: "memory", bcrypt_cost: 4 }.merge(settings))
    Hermes::Client.new(config)
  end

  # What +client+ (on the memory backend) queued, through the test surface: the raw bodies,
  # the parsed records (notifications and disconnects), or the notifications alone.
  def raw_bodies(client)
    Hermes::Testing.memory(client).bodies
  end

  def records(client)
    Hermes::Testing.memory(client).records
  end

  def notifications(client)
    Hermes::Testing.memory(client).notifications
  end

  # The moto server script/with-moto started, or nil (then the example is skipped, unless
  # HERMES_REQUIRE_AWS_TESTS=1 makes that a failure).
  def moto_endpoint
    ep = ENV["HERMES_TEST_AWS_ENDPOINT"].to_s
    return ep unless ep.empty?
    raise "HERMES_TEST_AWS_ENDPOINT is not set: run under script/with-moto" if ENV["HERMES_REQUIRE_AWS_TESTS"] == "1"

    skip "HERMES_TEST_AWS_ENDPOINT not set (run under script/with-moto)"
  end

  # boto3 from the project's venv reads back what the gem wrote: no AWS gem needed.
  def boto(script)
    python = File.join(ENV.fetch("HERMES_VENV", File.expand_path("~/.cache/hermes/venv")), "bin", "python")
    prelude = <<~PY
      import boto3, json, sys
      kw = dict(endpoint_url=#{moto_endpoint.inspect}, region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
      ddb = boto3.client("dynamodb", **kw); sqs = boto3.client("sqs", **kw); sm = boto3.client("secretsmanager", **kw)
    PY
    out = IO.popen([python, "-c", prelude + script], &:read)
    raise "boto3 script failed" unless $?.success?

    JSON.parse(out)
  end

  # hermes-local (the debug build script/test-gem makes) on a free loopback port, on its memory
  # backend with the specs' secret and passcode: what HERMES_BACKEND=local talks to. Returns
  # [pid, port]; skips the examples when it is not built (fails under HERMES_REQUIRE_AWS_TESTS=1).
  def start_hermes_local
    bin = File.join(ENV.fetch("CARGO_TARGET_DIR", File.expand_path("~/.cache/hermes/target")), "debug", "hermes-local")
    skip "hermes-local is not built (cargo build -p hermes-local)" unless File.executable?(bin) || ENV["HERMES_REQUIRE_AWS_TESTS"] == "1"
    port = TCPServer.open("127.0.0.1", 0) { |s| s.addr[1] }
    env = { "HERMES_BACKEND" => nil, "HERMES_JWT_SECRET" => SECRET, "HERMES_PASSCODE" => PASSCODE, "HERMES_BCRYPT_COST" => "4" }
    pid = spawn(env, bin, "--port", port.to_s, out: File::NULL, err: File::NULL)
    100.times do
      TCPSocket.new("127.0.0.1", port).close
      break
    rescue SystemCallError
      sleep 0.05
    end
    [pid, port]
  end

  def stop_hermes_local(pid)
    return unless pid

    Process.kill("TERM", pid)
    Process.wait(pid)
  end

  def vectors
    JSON.parse(File.read(File.join(ROOT, "core/tests/vectors/tokens.json")))
  end
end

RSpec.configure do |c|
  c.include SpecHelpers
  c.disable_monkey_patching!
  c.order = :random
end
