# frozen_string_literal: true

module Hermes
  # Where a page loads the browser client (vendor/javascript/hermes.js) from: the asset
  # pipeline (Sprockets or Propshaft) when the app has one, otherwise the mounted
  # Hermes::Engine (Hermes::BrowserClient, /hermes/hermes-<digest>.js). Hermes::Engine sets the
  # two facts at boot.
  module ClientAsset
    class << self
      # Whether config/importmap.rb pins "hermes": importmap-rails then renders the page's
      # import map, and hermes_connect_tag must not render a second one.
      attr_accessor :importmap_pins_hermes
      # Whether the app has an asset pipeline to serve hermes.js (false: API-only apps,
      # `rails new --skip-sprockets`).
      attr_accessor :asset_pipeline

      # The client's URL for a page rendered by +view+.
      def path(view)
        return view.asset_path("hermes.js") unless asset_pipeline == false

        routes = view.respond_to?(:hermes) ? view.hermes : nil
        return routes.client_path(digest: BrowserClient::DIGEST) if routes.respond_to?(:client_path)

        Log.warn_once(:unmounted, "this app has no asset pipeline, so the browser client is served by " \
                                  "Hermes::Engine: mount it in config/routes.rb " \
                                  "(mount Hermes::Engine, at: \"/hermes\"; bin/rails g hermes:install adds it)")
        view.asset_path("hermes.js")
      end
    end
  end
end
