# frozen_string_literal: true

$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "json"
require "hermes"

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

  def raw_bodies(client)
    client.instance_variable_get(:@backend).drain_memory_queue
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
      ddb = boto3.client("dynamodb", **kw); sqs = boto3.client("sqs", **kw)
    PY
    out = IO.popen([python, "-c", prelude + script], &:read)
    raise "boto3 script failed" unless $?.success?

    JSON.parse(out)
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
