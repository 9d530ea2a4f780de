# frozen_string_literal: true

module Hermes
  # The browser client's files (vendor/javascript) and where a page loads them from: the asset
  # pipeline (Sprockets or Propshaft) when the app has one, otherwise the mounted Hermes::Engine
  # (Hermes::BrowserClient, /hermes/hermes-<digest>.js). Hermes::Engine sets the two facts at
  # boot.
  #
  # Each file is its own import map entry, and the files import each other by these names only
  # (a relative import would break under digested asset URLs): hermes.js is "hermes", and
  # hermes-NAME.js is "hermes/NAME" ("hermes/socket", "hermes/turbo", ...); hermes-stub.js is
  # inlined by hermes_connect_tag, not an entry. ENTRIES is the one list everything else reads:
  # the tag's import map, the precompiled assets, the engine's routes and the generator's pins.
  module ClientAsset
    DIR = File.expand_path("../../vendor/javascript", __dir__)
    STUB = "hermes-stub.js"

    # { "hermes" => "hermes.js", "hermes/socket" => "hermes-socket.js", ... }, "hermes" first.
    ENTRIES = Dir.children(DIR).grep(/\Ahermes(-[a-z]+)?\.js\z/).reject { |f| f == STUB }
                 .sort_by { |f| [f == "hermes.js" ? 0 : 1, f] }.to_h do |file|
      [file == "hermes.js" ? "hermes" : "hermes/#{file.delete_prefix("hermes-").delete_suffix(".js")}", file]
    end.freeze

    # The entry hermes_connect_tag's script imports dynamically: on a page whose import map lacks
    # it, the import fails quietly and only Turbo Streams are missing.
    TURBO = "hermes/turbo"

    class << self
      # The entries config/importmap.rb pins (importmap-rails then renders the page's import
      # map, and hermes_connect_tag must not render a second one).
      attr_accessor :importmap_pins
      # Whether the app has an asset pipeline to serve the files (false: API-only apps,
      # `rails new --skip-sprockets`).
      attr_accessor :asset_pipeline

      # Whether config/importmap.rb pins "hermes" (the page's import map is importmap-rails').
      def importmap_pins_hermes
        Array(importmap_pins).include?("hermes")
      end

      # { specifier => URL } for a page rendered by +view+: the page's import map.
      def imports(view)
        ENTRIES.keys.to_h { |specifier| [specifier, path(view, specifier)] }
      end

      # The URL of +specifier+'s file for a page rendered by +view+.
      def path(view, specifier)
        file = ENTRIES.fetch(specifier)
        return view.asset_path(file) unless asset_pipeline == false

        routes = view.respond_to?(:hermes) ? view.hermes : nil
        client = BrowserClient[specifier]
        return routes.public_send("#{client.route_name}_path", digest: client.digest) if routes.respond_to?("#{client.route_name}_path")

        Log.warn_once(:unmounted, "this app has no asset pipeline, so the browser client is served by " \
                                  "Hermes::Engine: mount it in config/routes.rb " \
                                  "(mount Hermes::Engine, at: \"/hermes\"; bin/rails g hermes:install adds it)")
        view.asset_path(file)
      end

      # The pins in config/importmap.rb's text: the entries pinned there.
      def pinned_in(importmap_rb)
        ENTRIES.keys.select { |specifier| importmap_rb.match?(/^\s*pin\s+["']#{Regexp.escape(specifier)}["']/) }
      end
    end
  end
end
