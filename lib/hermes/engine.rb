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
  # /hermes/hermes-<digest>.js, when the app has none), provides the token refresh endpoint (`mount Hermes::Engine, at: "/hermes"`, which the generator adds),
  # and defines Notification::NotificationAuthorizer once the app's own constants can be
  # autoloaded (so an existing Notification model is extended, never shadowed).
  class Engine < ::Rails::Engine
    engine_name "hermes" # the mounted routes are `hermes.token_path` in views

    BROWSER_CLIENT = File.expand_path("../../vendor/javascript", __dir__)

    config.hermes = ActiveSupport::OrderedOptions.new

    initializer "hermes.configure" do |app|
      # `credentials.hermes` goes through method_missing, which Rails 6.1 does not report in
      # respond_to?: read the decrypted hash instead (nil when there are no credentials).
      creds = app.credentials.config[:hermes]
      Hermes.configure do |c|
        c.apply(creds.to_h) if creds.respond_to?(:to_h)
        c.apply(app.config.hermes.to_h)
        c.stage ||= Rails.env.to_s
      end
    end

    initializer "hermes.view_helper" do
      ActiveSupport.on_load(:action_view) { include Hermes::ViewHelper }
    end

    # hermes_connect_tag (and an importmap pin) point at hermes.js through the asset pipeline
    # (Sprockets or Propshaft); Sprockets serves in production only what is precompiled.
    # Without a pipeline (API-only apps, --skip-sprockets) the engine serves it itself
    # (Hermes::BrowserClient, mounted with the token endpoint).
    initializer "hermes.assets" do |app|
      assets = app.config.respond_to?(:assets) ? app.config.assets : nil
      ClientAsset.asset_pipeline = assets.respond_to?(:paths)
      assets.paths << BROWSER_CLIENT if assets.respond_to?(:paths)
      assets.precompile += %w[hermes.js] if assets.respond_to?(:precompile)
    end

    config.after_initialize do |app|
      ClientAsset.importmap_pins_hermes = Engine.importmap_pins_hermes?(app.root)
    end

    config.to_prepare { Hermes.install_notification_authorizer! }

    generators do
      require_relative "../generators/hermes/install/install_generator"
    end

    # Whether config/importmap.rb pins "hermes" (importmap-rails then renders the page's import
    # map, and hermes_connect_tag must not render a second one).
    def self.importmap_pins_hermes?(root)
      file = File.join(root.to_s, "config/importmap.rb")
      File.file?(file) && File.read(file).match?(/^\s*pin\s+["']hermes["']/)
    end
  end

  # The name this class had before the gem had an engine.
  Railtie = Engine
end
