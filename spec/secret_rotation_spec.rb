# frozen_string_literal: true

require "spec_helper"
require "jwt"
require "openssl"
require "securerandom"

# The keys from a Secrets Manager secret (secret_id), on moto's: read on first use, read again
# once secret_ttl has passed, so a rotation reaches the app without a deploy.
RSpec.describe "keys from a Secrets Manager secret" do
  let(:old_key) { "gem-rotation-old-jwt-secret-0123456789abcdef" }
  let(:new_key) { "gem-rotation-new-jwt-secret-fedcba9876543210" }

  let(:secret_id) { "hermes-gem-#{SecureRandom.hex(6)}" }
  let(:user) { "u-#{SecureRandom.hex(6)}" }

  def put_secret(value, create: false)
    call = create ? "sm.create_secret(Name=sid, SecretString=value)" : "sm.put_secret_value(SecretId=sid, SecretString=value)"
    boto(<<~PY)
      sid, value = #{secret_id.inspect}, #{JSON.generate(value).inspect}
      #{call}
      print("null")
    PY
  end

  def secret_client(**settings)
    config = Hermes::Configuration.new({})
    config.apply({ secret_id: secret_id, secret_ttl: 1, backend: "aws", aws_endpoint_url: moto_endpoint,
                   region: "eu-west-1", bcrypt_cost: 4 }.merge(settings))
    Hermes::Client.new(config)
  end

  # What core puts in the JWT header: 16 hex digits of HMAC-SHA256 under the key.
  def kid(key)
    OpenSSL::HMAC.hexdigest("SHA256", key, "hermes jwt key id v1")[0, 16]
  end

  it "signs with the current key, names it in the header, and follows a rotation" do
    put_secret({ jwt_secret: old_key, passcode: "p-old" }, create: true)
    c = secret_client
    before = c.generate_token(user_id: user, company_code: "ACME")
    claims, header = JWT.decode(before, old_key, true, algorithm: "HS512")
    expect(header["kid"]).to eq(kid(old_key))
    expect(claims["user_id"]).to eq(user)
    expect(Hermes::Streams.key(c.config)).to eq(Hermes::Native.stream_key(old_key))

    put_secret({ jwt_secret: new_key, passcode: "p-new", previous: { jwt_secret: old_key, passcode: "p-old" } })
    sleep 1.1
    after = c.generate_token(user_id: user, company_code: "ACME")
    new_claims, header = JWT.decode(after, new_key, true, algorithm: "HS512")
    expect(header["kid"]).to eq(kid(new_key))
    expect(new_claims["token"]).not_to eq(claims["token"]), "the new passcode composes"
    expect(Hermes::Streams.key(c.config)).to eq(Hermes::Native.stream_key(new_key))
    expect(JWT.decode(c.streams_token, new_key, true, algorithm: "HS512")[1]["kid"]).to eq(kid(new_key))
    # The row keeps the seal the page minted before the rotation carries.
    item = boto(<<~PY)
      print(json.dumps(ddb.get_item(TableName="hermesTokens", Key={"user_id": {"S": #{user.inspect}}, "room_id": {"S": "ACME"}})["Item"]))
    PY
    expect(item.keys).to include("previous_token", "previous_expires_at")
  end

  it "reads the secret in a forked child with clients of its own (Puma/Unicorn preload)" do
    put_secret({ jwt_secret: old_key, passcode: "p-old" }, create: true)
    c = secret_client(secret_ttl: 600)
    expect(c.stream_key).to eq(Hermes::Native.stream_key(old_key)), "read in the parent, as at boot"
    put_secret({ jwt_secret: new_key, passcode: "p-new", previous: { jwt_secret: old_key, passcode: "p-old" } })
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      token = c.generate_token(user_id: user, company_code: "ACME")
      writer.write(JSON.generate(JWT.decode(token, new_key, true, algorithm: "HS512")[1]))
      writer.close
      exit!(0)
    end
    writer.close
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    expect(JSON.parse(reader.read)["kid"]).to eq(kid(new_key)), "the child read the secret as it is now"
    # The parent's read is still within its TTL: each process has a cache of its own.
    expect(c.stream_key).to eq(Hermes::Native.stream_key(old_key))
  end

  it "says which secret could not be read, and never prints a key" do
    c = secret_client
    expect { c.generate_token(user_id: user, company_code: "ACME") }
      .to raise_error(Hermes::ConfigurationError, /secret #{secret_id} could not be read: ResourceNotFoundException/)
    put_secret({ jwt_secret: "too-short-key", passcode: "p" }, create: true)
    expect { secret_client.generate_token(user_id: user, company_code: "ACME") }
      .to raise_error(Hermes::ConfigurationError, "secret #{secret_id} \"jwt_secret\" must be at least 32 bytes for HS512, got 13")
  end

  it "refuses a secret_id beside keys of its own, and filters the previous keys from inspect" do
    expect { client(secret_id: "hermes/secrets") }
      .to raise_error(Hermes::ConfigurationError, /HERMES_SECRET_ID is invalid: .*HERMES_JWT_SECRET must not be set too/)
    config = Hermes::Configuration.new({})
    config.apply(previous_jwt_secret: old_key, previous_passcode: "p-old", secret_id: "hermes/secrets")
    expect(config.inspect).not_to include(old_key, "p-old")
    expect(config.inspect).to include("previous_jwt_secret=[FILTERED]", 'secret_id="hermes/secrets"')
  end
end
