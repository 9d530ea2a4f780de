# frozen_string_literal: true

require "spec_helper"
require "open3"

# `adapter: hermes` in config/cable.yml, and Turbo's signed names, in a Rails app with Action
# Cable and a stand-in for turbo-rails, set up by the generator (spec/fixtures/cable_app).
RSpec.describe "Turbo Streams through Action Cable's adapter" do
  ENV_OF_SUITE = { "HERMES_BACKEND" => nil, "HERMES_JWT_SECRET" => nil, "HERMES_PASSCODE" => nil, "HERMES_QUEUE_URL" => nil,
                   "HERMES_LOCAL_URL" => nil, "RAILS_ENV" => nil, "HERMES_SPEC_TURBO" => nil }.freeze # rubocop:disable Lint/ConstantDefinitionInBlock

  def suite(file)
    Open3.capture2e(ENV_OF_SUITE, "rspec", "--no-color", "--format", "documentation", File.join(__dir__, "fixtures/cable_app", file))
  end

  def observe(env = {})
    out, status = Open3.capture2e(ENV_OF_SUITE.merge(env), RbConfig.ruby, File.join(__dir__, "fixtures/cable_app/observe.rb"))
    expect(status).to be_success, out
    JSON.parse(out.lines.last)
  end

  it "sends Action Cable's broadcasts to Hermes's streams, byte for byte, and gives Turbo Hermes's key" do
    out, status = suite("hermes_suite.rb")
    expect(status).to be_success, out
    expect(out).to include("5 examples, 0 failures")
  end

  it "leaves adapter: test to rspec-rails' have_broadcasted_to" do
    out, status = suite("test_suite.rb")
    expect(status).to be_success, out
    expect(out).to include("1 example, 0 failures")
  end

  context "in development, on hermes-local" do
    before(:all) { @pid, @port = start_hermes_local }
    after(:all) { stop_hermes_local(@pid) }

    let(:development_key) { Hermes::Native.stream_key(nil).unpack1("H*") }

    it "signs with the development key hermes-local checks, and broadcasts through it" do
      dev = observe("HERMES_LOCAL_URL" => "http://127.0.0.1:#{@port}")
      expect(dev).to include("backend" => "local", "turbo_key" => development_key, "hermes_key" => development_key)
      expect(dev["signed"]).to eq(Hermes::Native.sign_stream_name(Hermes::Native.stream_key(nil), "gid://cable-app/Board/1:cards"))
      expect(dev["message_id"]).to match(/\S/)
    end

    it "boots an app without turbo-rails with the same initializer" do
      dev = observe("HERMES_LOCAL_URL" => "http://127.0.0.1:#{@port}", "HERMES_SPEC_TURBO" => "none")
      expect(dev).to include("turbo" => false, "backend" => "local", "hermes_key" => development_key)
    end
  end

  it "boots with no Hermes secret outside development, Turbo keeping its own key" do
    prod = observe("RAILS_ENV" => "production")
    expect(prod["backend"]).to eq("aws")
    expect(prod["turbo_key"]).to match(/\A\h{128}\z/) # Rails' key generator: Turbo's own key
    expect(prod["hermes_key"]).to be_nil
    expect(prod["error"]).to start_with("Hermes::ConfigurationError: HERMES_JWT_SECRET is not set")
  end
end
