# frozen_string_literal: true

module Hermes
  # Settings, one per SPEC environment variable. A value set here wins over the environment;
  # anything left nil falls back to ENV, then to hermes-core's default.
  class Configuration
    ENV_NAMES = {
      jwt_secret: "HERMES_JWT_SECRET",
      passcode: "HERMES_PASSCODE",
      tokens_table: "HERMES_TOKENS_TABLE",
      connections_table: "HERMES_CONNECTIONS_TABLE",
      history_table: "HERMES_HISTORY_TABLE",
      history_ttl: "HERMES_HISTORY_TTL",
      queue_url: "HERMES_QUEUE_URL",
      token_ttl: "HERMES_TOKEN_TTL",
      bcrypt_cost: "HERMES_BCRYPT_COST",
      websocket_endpoint: "HERMES_WEBSOCKET_ENDPOINT",
      aws_endpoint_url: "HERMES_AWS_ENDPOINT_URL",
      backend: "HERMES_BACKEND",
      local_url: "HERMES_LOCAL_URL",
      region: "AWS_REGION",
      # Ruby-side only: what the view helper puts in the page.
      websocket_url: "HERMES_WEBSOCKET_URL",
      stage: "HERMES_STAGE",
    }.freeze

    attr_accessor(*ENV_NAMES.keys)

    def initialize(env = ENV)
      @env = env
    end

    # Sets every known key of +hash+ (String or Symbol keys); unknown keys are an error so a
    # typo in credentials does not pass silently.
    def apply(hash)
      hash.each do |key, value|
        name = key.to_sym
        raise ConfigurationError, "unknown Hermes setting #{key.inspect} (known: #{ENV_NAMES.keys.join(", ")})" unless ENV_NAMES.key?(name)

        public_send("#{name}=", value)
      end
      self
    end

    def [](name)
      value = public_send(name)
      value = @env[ENV_NAMES.fetch(name)] if value.nil?
      value = nil if value.respond_to?(:empty?) && value.empty?
      value
    end

    def backend_name
      (self[:backend] || "aws").to_s.downcase
    end

    # What hermes-core reads: { "HERMES_JWT_SECRET" => "...", ... } for the values that are set.
    def to_env
      ENV_NAMES.each_with_object({}) do |(name, env_name), out|
        value = self[name]
        out[env_name] = value.to_s unless value.nil?
      end
    end

    def inspect
      shown = ENV_NAMES.keys.filter_map do |name|
        value = self[name]
        next if value.nil?

        "#{name}=#{%i[jwt_secret passcode].include?(name) ? "[FILTERED]" : value.inspect}"
      end
      "#<Hermes::Configuration #{shown.join(" ")}>"
    end
    alias to_s inspect
  end
end
