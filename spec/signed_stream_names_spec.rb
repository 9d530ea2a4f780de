# frozen_string_literal: true

require "spec_helper"
require "active_support"
require "active_support/message_verifier"

# Signed stream names are ActiveSupport::MessageVerifier's, configured as turbo-rails configures
# Turbo.signed_stream_verifier: what the gem signs, ActiveSupport verifies, and the reverse.
RSpec.describe "signed stream names" do
  after { Hermes.reset! }

  def turbo_verifier(key)
    ActiveSupport::MessageVerifier.new(key, digest: "SHA256", serializer: JSON)
  end

  let(:shared) { JSON.parse(File.read(File.join(ROOT, "core/tests/vectors/streams.json"))) }

  it "signs the shared vectors byte for byte, and ActiveSupport verifies them" do
    key = shared.fetch("key")
    expect(shared["signed"].size).to be >= 6
    shared["signed"].each do |v|
      expect(Hermes::Native.sign_stream_name(key, v["name"])).to eq(v["signed"]), v["name"]
      expect(turbo_verifier(key).verified(v["signed"])).to eq(v["name"])
    end
  end

  it "has ActiveSupport refuse the shared vectors the gateway refuses" do
    verifier = turbo_verifier(shared.fetch("key"))
    shared["refused"].each do |v|
      verified = begin
        verifier.verified(v["signed"])
      rescue ActiveSupport::MessageVerifier::InvalidSignature
        nil
      end
      expect(verified).not_to eq("board_1"), v["why"]
      expect(verified).not_to eq("gid://app/Board/1:messages"), v["why"]
    end
  end

  it "signs as Turbo's verifier does with Hermes.turbo_signed_stream_verifier_key" do
    Hermes.configure { |c| c.apply(jwt_secret: SECRET, backend: "memory") }
    key = Hermes.turbo_signed_stream_verifier_key
    expect(key).to match(/\A\h{64}\z/)
    ["board_1", "gid://app/Board/1:messages", "Ünïcödé 😀", "x" * 1024].each do |name|
      expect(Hermes.signed_stream_name(name)).to eq(turbo_verifier(key).generate(name))
    end
    record = Struct.new(:id) { def to_gid_param = "Z2lkOi8vYXBwL0JvYXJkLzE" }.new(1)
    expect(turbo_verifier(key).verified(Hermes.signed_stream_name([record, :cards]))).to eq("Z2lkOi8vYXBwL0JvYXJkLzE:cards")
  end

  it "derives the key from the JWT secret, and uses the development key on the local backend" do
    Hermes.configure { |c| c.apply(jwt_secret: SECRET, backend: "aws") }
    derived = Hermes.turbo_signed_stream_verifier_key
    expect(derived).to eq(Hermes::Native.stream_key(SECRET))
    expect(derived).not_to include(SECRET)
    Hermes.configure { |c| c.jwt_secret = "#{SECRET}-another" }
    expect(Hermes.turbo_signed_stream_verifier_key).not_to eq(derived)

    Hermes.configure { |c| c.apply(jwt_secret: nil, backend: "local") }
    development = Hermes.turbo_signed_stream_verifier_key
    expect(development).to eq(Hermes::Native.stream_key(nil))
    expect(development).to match(/\A\h{64}\z/)
    expect(development).not_to eq(derived)
  end

  it "says which setting is missing when there is no secret, and never shows one" do
    Hermes.configure { |c| c.apply(jwt_secret: nil, backend: "aws") }
    allow(ENV).to receive(:[]).and_call_original
    allow(ENV).to receive(:[]).with("HERMES_JWT_SECRET").and_return(nil)
    expect { Hermes.turbo_signed_stream_verifier_key }
      .to raise_error(Hermes::ConfigurationError, /\AHERMES_JWT_SECRET is not set, and the key of signed stream names .* is derived from it \(it comes from hermes: jwt_secret: in the app.s credentials .* or the HERMES_JWT_SECRET environment variable\)\z/)
    expect { Hermes.signed_stream_name("board_1") }.to raise_error(Hermes::ConfigurationError, /HERMES_JWT_SECRET/)
    Hermes.configure { |c| c.jwt_secret = "too-short-secret" }
    expect { Hermes.turbo_signed_stream_verifier_key }
      .to raise_error(Hermes::ConfigurationError, /HERMES_JWT_SECRET/) { |e| expect(e.message).not_to include("too-short-secret") }
  end
end
