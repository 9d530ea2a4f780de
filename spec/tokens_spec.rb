# frozen_string_literal: true

require "spec_helper"
require "jwt"
require "bcrypt"
require "digest"

RSpec.describe "tokens" do
  it "composes the shared vectors exactly as the seed's Digest code does" do
    vectors["compose"].reject { |v| v["company_code"].empty? }.each do |v|
      c = client(passcode: v["passcode"])
      expect(c.compose_token(user_id: v["user_id"], company_code: v["company_code"])).to eq(v["hex"])
      expect(v["hex"]).to eq(Digest::SHA256.hexdigest("#{v["user_id"]}#{v["passcode"]}#{v["company_code"]}"))
    end
  end

  it "mints a JWT the jwt gem decodes with HS512, keeping an Integer user_id a number" do
    c = client
    token = c.generate_token(user_id: 42, company_code: "ACME")
    claims, header = JWT.decode(token, SECRET, true, algorithm: "HS512")
    expect(header["alg"]).to eq("HS512")
    expect(claims["user_id"]).to eq(42)
    expect(claims["room_id"]).to eq("ACME")
    expect(claims["token"]).to eq(Digest::SHA256.hexdigest("42#{PASSCODE}ACME"))
    expect(claims["exp"]).to be_within(5).of(Time.now.to_i + 3600)
    expect(claims["iat"]).to be_within(5).of(Time.now.to_i)
    expect { JWT.decode(token, SECRET, true, algorithm: "HS256") }.to raise_error(JWT::IncorrectAlgorithm)
    expect { JWT.decode(token, "x" * 40, true, algorithm: "HS512") }.to raise_error(JWT::VerificationError)
  end

  it "keeps a String user_id a string" do
    claims, = JWT.decode(client.generate_token(user_id: "u-7", company_code: "R"), SECRET, true, algorithm: "HS512")
    expect(claims["user_id"]).to eq("u-7")
  end

  it "check_token is generate_token, as the seed's view calls it" do
    c = client
    claims, = JWT.decode(c.check_token(user_id: 1, company_code: "R"), SECRET, true, algorithm: "HS512")
    expect(claims["token"]).to eq(c.compose_token(user_id: 1, company_code: "R"))
  end

  it "takes the room as a String, an Integer or a Symbol and refuses other ids" do
    c = client
    claims, = JWT.decode(c.generate_token(user_id: 1, company_code: 12), SECRET, true, algorithm: "HS512")
    expect(claims["room_id"]).to eq("12")
    expect { c.generate_token(user_id: 1.5, company_code: "R") }.to raise_error(ArgumentError, /user_id must be an Integer or a String, got Float/)
    expect { c.generate_token(user_id: nil, company_code: "R") }.to raise_error(ArgumentError, /user_id/)
    expect { c.generate_token(user_id: 1, company_code: nil) }.to raise_error(ArgumentError, /company_code must be a String/)
    expect { c.generate_token(user_id: "", company_code: "R") }.to raise_error(ArgumentError, /user_id must not be empty/)
    expect { c.generate_token(user_id: 2**64, company_code: "R") }.to raise_error(ArgumentError, /64-bit/)
    expect { c.generate_token(user_id: 1, company_code: "") }.to raise_error(ArgumentError, "company_code must not be empty")
  end

  it "refuses a user id that is not valid text (was EncodingError) or too long for the WebSocket URL" do
    c = client
    expect { c.generate_token(user_id: "u\xff", company_code: "R") }.to raise_error(ArgumentError, /user_id is not valid text/)
    expect { c.generate_token(user_id: 1, company_code: "\xff".b) }.to raise_error(ArgumentError, /company_code is not valid text/)
    expect { c.generate_token(user_id: "u" * 1025, company_code: "R") }.to raise_error(ArgumentError, /user_id is 1025 bytes; at most 1024/)
    expect { c.generate_token(user_id: "u" * (1 << 20), company_code: "R") }.to raise_error(ArgumentError, /at most 1024/)
    expect(c.generate_token(user_id: "u" * 1024, company_code: "R" * 1024).length).to be <= 3584
    expect { c.generate_token(user_id: "\u0001" * 1024, company_code: "R") }
      .to raise_error(ArgumentError, /-character token; at most 3584 fit in API Gateway's 4,096-character WebSocket URL/)
    expect(c.generate_token(user_id: "caf\u00e9".encode("ISO-8859-1"), company_code: "R").count(".")).to eq(2)
  end

  it "refuses bad configuration with errors that name the variable and not the value" do
    expect { client(jwt_secret: "short-secret-value") }
      .to raise_error(Hermes::ConfigurationError, /HERMES_JWT_SECRET is invalid: must be at least 32 bytes/) { |e|
        expect(e.message).not_to include("short-secret-value")
      }
    expect { client(passcode: nil).generate_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::ConfigurationError, /HERMES_PASSCODE is not set/)
    expect { client(bcrypt_cost: 40) }.to raise_error(Hermes::ConfigurationError, /HERMES_BCRYPT_COST/)
    expect { client(token_ttl: "1h") }.to raise_error(Hermes::ConfigurationError, /HERMES_TOKEN_TTL/)
    expect { client(backend: "redis") }.to raise_error(Hermes::ConfigurationError, /HERMES_BACKEND/)
  end

  it "names both places a setting comes from, and in development the local backend" do
    expect { client(passcode: nil).generate_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::ConfigurationError,
                      "HERMES_PASSCODE is not set: set hermes: passcode: in the app's credentials " \
                      "(bin/rails credentials:edit) or the HERMES_PASSCODE environment variable")
    expect { client(jwt_secret: "short") }
      .to raise_error(Hermes::ConfigurationError, /must be at least 32 bytes.*\(it comes from hermes: jwt_secret: in the app's credentials.* or the HERMES_JWT_SECRET environment variable\)/)
    old = ENV.fetch("RAILS_ENV", nil)
    ENV["RAILS_ENV"] = "development"
    expect { client(passcode: nil).generate_token(user_id: 1, company_code: "R") }
      .to raise_error(Hermes::ConfigurationError, /environment variable\. In development, HERMES_BACKEND=local uses a running hermes-local instead/)
  ensure
    ENV["RAILS_ENV"] = old
  end

  it "does not show secrets in the configuration's inspect" do
    config = Hermes::Configuration.new({}).apply(jwt_secret: SECRET, passcode: PASSCODE)
    expect(config.inspect).not_to include(SECRET)
    expect(config.inspect).not_to include(PASSCODE)
    expect { config.apply(jwt_secrte: "x") }.to raise_error(Hermes::ConfigurationError, /unknown Hermes setting :jwt_secrte/)
  end

  it "takes hermes-core's setting names from the extension, so the two lists cannot drift" do
    core = Hermes::Native::SETTINGS
    expect(core).to include("jwt_secret" => "HERMES_JWT_SECRET", "region" => "AWS_REGION")
    expect(Hermes::Configuration::ENV_NAMES).to include(core.to_h { |k, v| [k.to_sym, v] })
    # What only Ruby reads is not a name core reads too (each setting has one owner).
    expect(Hermes::Configuration::RUBY_ENV_NAMES.values & core.values).to be_empty
    expect(Hermes::Configuration::SECRET_NAMES)
      .to contain_exactly(:jwt_secret, :passcode, :previous_jwt_secret, :previous_passcode)
    # Every core setting is an accessor and reaches the extension under its variable.
    config = Hermes::Configuration.new({}).apply(core.keys.to_h { |k| [k, "v-#{k}"] })
    expect(config.to_env).to include(core.values.to_h { |env| [env, "v-#{core.key(env)}"] })
  end

  it "is reachable as Hermes and as Notification::NotificationAuthorizer" do
    Hermes.configure do |c|
      c.jwt_secret = SECRET
      c.passcode = PASSCODE
      c.backend = "memory"
      c.bcrypt_cost = 4
    end
    require "notification/notification_authorizer"
    hex = Notification::NotificationAuthorizer.compose_token(user_id: 5, company_code: "ACME")
    expect(hex).to eq(Hermes.compose_token(user_id: 5, company_code: "ACME"))
    claims, = JWT.decode(Notification::NotificationAuthorizer.check_token(user_id: 5, company_code: "ACME"), SECRET, true, algorithm: "HS512")
    expect(claims["token"]).to eq(hex)
    expect(Notification::NotificationAuthorizer.revoke_token(user_id: 5, company_code: "ACME")).to be(true)
    expect(Hermes.revoke_token(user_id: 5, company_code: "ACME")).to be(false)
  ensure
    Hermes.reset!
  end
end
