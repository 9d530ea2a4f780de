# frozen_string_literal: true

require "rails/railtie"
require_relative "view_helper"

module Hermes
  # Reads settings from `Rails.application.credentials.hermes` (then ENV), adds the view
  # helper, and defines Notification::NotificationAuthorizer once the app's own constants
  # can be autoloaded (so an existing Notification model is extended, never shadowed).
  class Railtie < ::Rails::Railtie
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

    initializer "hermes.assets" do |app|
      js = File.expand_path("../../vendor/javascript", __dir__)
      app.config.assets.paths << js if app.config.respond_to?(:assets) && app.config.assets.respond_to?(:paths)
    end

    config.to_prepare { Hermes.install_notification_authorizer! }

    generators do
      require_relative "../generators/hermes/install/install_generator"
    end
  end
end
