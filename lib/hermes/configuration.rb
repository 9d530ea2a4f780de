# frozen_string_literal: true

module Hermes
  # Settings, one per SPEC environment variable. A value set here wins over the environment;
  # anything left nil falls back to ENV, then to hermes-core's default.
  class Configuration
    # What only the Ruby side reads: what the view helper puts in the page.
    RUBY_ENV_NAMES = {
      websocket_url: "HERMES_WEBSOCKET_URL",
      stage: "HERMES_STAGE",
    }.freeze

    # Setting => environment variable. hermes-core's own settings come from the extension
    # (hermes_core::names::env::SETTINGS), so this list cannot drift from what core reads.
    ENV_NAMES = Native::SETTINGS.to_h { |key, env| [key.to_sym, env] }.merge(RUBY_ENV_NAMES).freeze

    # Shown as [FILTERED] by #inspect.
    SECRET_NAMES = ENV_NAMES.select { |_, env| Native::SECRET_SETTINGS.include?(env) }.keys.freeze

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

        "#{name}=#{SECRET_NAMES.include?(name) ? "[FILTERED]" : value.inspect}"
      end
      "#<Hermes::Configuration #{shown.join(" ")}>"
    end
    alias to_s inspect
  end
end
