# frozen_string_literal: true

module Hermes
  # Settings, one per environment variable hermes-core reads, plus the page's own two. A value
  # set here wins over the environment; anything left nil falls back to ENV, then to
  # hermes-core's default.
  class Configuration
    # Environment variables only the Ruby side reads: what the view helper puts in the page.
    RUBY_ENV_NAMES = {
      websocket_url: "HERMES_WEBSOCKET_URL",
      stage: "HERMES_STAGE",
    }.freeze

    # Setting => environment variable. hermes-core's own settings come from the extension
    # (hermes_core::names::env::SETTINGS), so this list cannot drift from what core reads.
    ENV_NAMES = Native::SETTINGS.to_h { |key, env| [key.to_sym, env] }.merge(RUBY_ENV_NAMES).freeze

    # Shown as [FILTERED] by #inspect.
    SECRET_NAMES = ENV_NAMES.select { |_, env| Native::SECRET_SETTINGS.include?(env) }.keys.freeze

    # Where the local backend and the page find hermes-local (its own default port).
    DEFAULT_LOCAL_URL = Native::DEFAULT_LOCAL_URL

    # Set in Ruby only (config/initializers/hermes.rb), never from the environment:
    #   current_user_id, current_company_code  procs run on the controller (instance_exec, so
    #       `current_user` and other private helpers work) that say who the page is for:
    #       hermes_connect_tag with no arguments and the token refresh endpoint call them.
    #       nil from either means nobody is signed in: the page gets a streams token only.
    #   raise_connect_errors  hermes_connect_tag raises when the backend cannot be reached,
    #       instead of logging one line and rendering the page without live notifications.
    #   close_hidden_after  seconds a page stays hidden (a background tab) before its socket
    #       closes until the page is shown again (nil: the browser client's default, 60;
    #       false: never); hermes_connect_tag(close_hidden_after:) overrides it per page.
    RUBY_ONLY = %i[current_user_id current_company_code raise_connect_errors close_hidden_after].freeze

    attr_accessor(*ENV_NAMES.keys, *RUBY_ONLY)

    def initialize(env = ENV)
      @env = env
    end

    # +message+ (a hermes-core configuration error, which names the environment variable)
    # with the other place the value can come from, and in development the way around AWS.
    def self.explain(message)
      return message if message.include?("credentials")

      name, var = ENV_NAMES.find { |_, v| message.match?(/\b#{v}\b/) }
      return message unless name

      where = "hermes: #{name}: in the app's credentials (bin/rails credentials:edit) or the #{var} environment variable"
      text = message.end_with?(" is not set") ? "#{message}: set #{where}" : "#{message} (it comes from #{where})"
      if development? && !local_backend?
        text += ". In development, HERMES_BACKEND=local uses a running hermes-local instead: no AWS, no secrets to set"
      end
      text
    end

    def self.development?
      env = defined?(::Rails) && ::Rails.respond_to?(:env) ? ::Rails.env.to_s : (ENV["RAILS_ENV"] || ENV["RACK_ENV"]).to_s
      env == "development"
    end

    def self.local_backend?
      Hermes.config.backend_name == "local"
    end

    # Sets every known key of +hash+ (String or Symbol keys); unknown keys are an error so a
    # typo in credentials does not pass silently.
    def apply(hash)
      hash.each do |key, value|
        name = key.to_sym if ::String === key || ::Symbol === key # rubocop:disable Style/CaseEquality
        unless ENV_NAMES.key?(name) || RUBY_ONLY.include?(name)
          raise ConfigurationError, "unknown Hermes setting #{shown_key(key)} (known: #{ENV_NAMES.keys.join(", ")})"
        end

        public_send("#{name}=", value)
      end
      self
    end

    # A setting's name as the app spelled it, for a message: a short name is the typo to fix;
    # anything longer or stranger is not shown (it may be a value pasted in the wrong place).
    def shown_key(key)
      name = key.to_sym if ::String === key || ::Symbol === key # rubocop:disable Style/CaseEquality
      return name.inspect if name&.match?(/\A[A-Za-z0-9_]{1,40}\z/)

      "(#{TypeName.with_article(key)} that is not a setting name)"
    end
    private :shown_key

    def [](name)
      value = public_send(name)
      value = @env[ENV_NAMES.fetch(name)] if value.nil?
      value = nil if value.respond_to?(:empty?) && value.empty?
      value
    end

    def backend_name
      (self[:backend] || "aws").to_s.downcase
    end

    def local_url_or_default
      self[:local_url] || DEFAULT_LOCAL_URL
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
