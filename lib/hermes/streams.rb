# frozen_string_literal: true

module Hermes
  # Stream names and the key that signs them (the format and the key's derivation are core's:
  # core/src/stream_name.rs; docs/protocol.md, "Streams: many per socket").
  #
  # The key rule, which the gem and the gateway follow without sharing anything more: the key
  # is derived from HERMES_JWT_SECRET, except on the `local` backend, where the gem and
  # hermes-local (on its memory backend) both use the fixed development key.
  module Streams
    module_function

    # The name of +streamables+ as turbo-rails' `stream_name_from` makes it, so that
    # `Hermes.broadcast(stream: [board, :messages], ...)` reaches what
    # `turbo_stream_from board, :messages` subscribes: an Array's parts joined with ":", a
    # record by its GlobalID (`to_gid_param`), anything else by `to_param`. A String is itself,
    # a Symbol its name.
    def name(streamables)
      case streamables
      when ::String then streamables
      when ::Symbol then streamables.name
      when ::Array then streamables.map { |part| part.nil? ? "" : name(part) }.join(":")
      when ::Integer then streamables.to_s
      else
        if streamables.respond_to?(:to_gid_param)
          streamables.to_gid_param
        elsif !streamables.nil? && streamables.respond_to?(:to_param)
          streamables.to_param
        else
          raise ArgumentError, "stream must be a String, a Symbol, a record or an Array of them, got #{TypeName.of(streamables)}"
        end
      end
    end

    # The key of signed stream names under +config+ (64 hex digits). Raises ConfigurationError
    # when it cannot be known: no JWT secret outside the local backend, or, in a Rails app,
    # before Hermes has read its settings. With a Secrets Manager secret (secret_id), the
    # current JWT secret's, read through Hermes.client's cache (for another configuration, a
    # client built for the call reads it): a rotation reaches names signed from then on (Turbo
    # reads its key once, at boot: see docs/deploy.md, "Rotating the keys").
    def key(config)
      settings_loaded!
      return Native.stream_key(nil) if config.backend_name == "local"
      return (config.equal?(Hermes.config) ? Hermes.client : Client.new(config)).stream_key unless config[:secret_id].nil?

      secret = config[:jwt_secret]
      if secret.nil?
        raise ConfigurationError, "HERMES_JWT_SECRET is not set, and the key of signed stream names " \
                                  "(Hermes.turbo_signed_stream_verifier_key) is derived from it"
      end
      Native.stream_key(secret.to_s)
    end

    # +streamables+' name (see #name), signed with +config+'s key as ActiveSupport's
    # MessageVerifier (SHA256, JSON) signs it.
    def signed_name(config, streamables)
      Native.sign_stream_name(key(config), name(streamables))
    end

    # Before Hermes::Engine has applied the credentials, the key would be guessed from an
    # incomplete configuration (config/application.rb runs before both the credentials and
    # config/initializers/hermes.rb, where development picks the local backend): refuse instead.
    def settings_loaded!
      return unless defined?(Hermes::Engine) && defined?(::Rails) && ::Rails.respond_to?(:application)
      return if ::Rails.application.nil? || Hermes::Engine.settings_loaded

      raise ConfigurationError, "the key of signed stream names was asked for before Rails loaded Hermes's " \
                                "settings (credentials, config/initializers/hermes.rb): set " \
                                "config.turbo.signed_stream_verifier_key in config/initializers/hermes.rb, after " \
                                "Hermes.configure, as bin/rails g hermes:install does (turbo-rails reads it once " \
                                "the initializers have run)"
    end
    private_class_method :settings_loaded!
  end
end
