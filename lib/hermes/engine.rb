# frozen_string_literal: true

require "rails/engine"
require_relative "log"
require_relative "page_identity"
require_relative "client_asset"
require_relative "view_helper"
require_relative "browser_client"

module Hermes
  # In a Rails app: reads settings from `Rails.application.credentials.hermes` (then ENV),
  # adds the view helper, serves the browser client through the asset pipeline (or itself, at
  # /hermes/hermes-<digest>.js, when the app has none), provides the token refresh endpoint
  # (`mount Hermes::Engine, at: "/hermes"`, which the generator adds), and defines
  # Notification::NotificationAuthorizer once the app's own constants can be autoloaded (so an
  # existing Notification model is extended, never shadowed). `adapter: hermes` in
  # config/cable.yml is lib/action_cable/subscription_adapter/hermes.rb.
  class Engine < ::Rails::Engine
    engine_name "hermes" # the mounted routes are `hermes.token_path` in views

    config.hermes = ActiveSupport::OrderedOptions.new

    class << self
      # Whether the credentials and config.hermes have been applied to Hermes.config (the key
      # of signed stream names depends on them: Hermes::Streams.key).
      attr_accessor :settings_loaded
    end

    # Before config/initializers: what config/initializers/hermes.rb sets wins over the
    # credentials (as its header says), and it can read the settings (Turbo's key needs them).
    initializer "hermes.configure", before: :load_config_initializers do |app|
      # `credentials.hermes` goes through method_missing, which Rails 6.1 does not report in
      # respond_to?: read the decrypted hash instead (nil when there are no credentials).
      creds = app.credentials.config[:hermes]
      Hermes.configure do |c|
        c.apply(creds.to_h) if creds.respond_to?(:to_h)
        c.apply(app.config.hermes.to_h)
        c.stage ||= Rails.env.to_s
      end
      Engine.settings_loaded = true
    end

    initializer "hermes.view_helper" do
      ActiveSupport.on_load(:action_view) { include Hermes::ViewHelper }
    end

    # hermes_connect_tag (and the importmap pins) point at the client's files through the
    # asset pipeline (Sprockets or Propshaft); Sprockets serves in production only what is
    # precompiled. Without a pipeline (API-only apps, --skip-sprockets) the engine serves them
    # itself (Hermes::BrowserClient, mounted with the token endpoint).
    initializer "hermes.assets" do |app|
      assets = app.config.respond_to?(:assets) ? app.config.assets : nil
      ClientAsset.asset_pipeline = assets.respond_to?(:paths)
      assets.paths << ClientAsset::DIR if assets.respond_to?(:paths)
      assets.precompile += ClientAsset::ENTRIES.values if assets.respond_to?(:precompile)
    end

    config.after_initialize do |app|
      ClientAsset.importmap_pins = Engine.importmap_pins(app.root)
    end

    config.to_prepare { Hermes.install_notification_authorizer! }

    generators do
      require_relative "../generators/hermes/install/install_generator"
    end

    # The client's entries config/importmap.rb pins (importmap-rails then renders the page's
    # import map, and hermes_connect_tag must not render a second one). Pinning "hermes" without
    # the rest (pins written by an earlier version of the gem) leaves the page without its
    # client: said once in the log.
    def self.importmap_pins(root)
      file = File.join(root.to_s, "config/importmap.rb")
      return [] unless File.file?(file)

      pins = ClientAsset.pinned_in(File.read(file))
      missing = ClientAsset::ENTRIES.keys - pins
      if pins.include?("hermes") && !missing.empty?
        Log.warn_once(:importmap, "config/importmap.rb pins \"hermes\" but not #{missing.map(&:inspect).join(", ")}: " \
                                  "run bin/rails g hermes:install again (it adds the missing pins)")
      end
      pins
    end
  end

  # The name this class had before the gem had an engine.
  Railtie = Engine
end
