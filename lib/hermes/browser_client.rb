# frozen_string_literal: true

require "digest"
require_relative "client_asset"

module Hermes
  # The browser client's files (Hermes::ClientAsset::ENTRIES) served by the mounted engine, for
  # apps without an asset pipeline (API-only apps, `rails new --skip-sprockets`):
  # hermes_connect_tag's import map then points at GET /hermes/hermes-<digest>.js,
  # /hermes/hermes-turbo-<digest>.js, ... One Rack endpoint per file, not a controller: no
  # session, no CSRF, none of the app's before_actions (a page must load them signed out too).
  #
  # A digested path is cacheable for a year (a new gem version is a new digest); the plain
  # /hermes/hermes.js, and a digest that is not the current one (a page rendered before a
  # deploy), must be revalidated, with the ETag.
  class BrowserClient
    CONTENT_TYPE = "text/javascript; charset=utf-8"

    attr_reader :specifier, :file, :digest

    def initialize(specifier, file)
      @specifier = specifier
      @file = file
      @body = File.binread(File.join(ClientAsset::DIR, file)).freeze
      @digest = Digest::SHA256.hexdigest(@body)[0, 16]
      @etag = %("#{@digest}").freeze
    end

    ALL = ClientAsset::ENTRIES.to_h { |specifier, file| [specifier, new(specifier, file).freeze] }.freeze

    def self.[](specifier)
      ALL.fetch(specifier)
    end

    # The engine's route name: client_hermes, client_hermes_turbo, ...
    def route_name
      "client_#{specifier.tr("/", "_")}"
    end

    # The engine's digested path, as config/routes.rb spells it: "hermes-turbo-:digest.js".
    def digested_route
      "#{file.delete_suffix(".js")}-:digest.js"
    end

    def call(env)
      digest = env.dig("action_dispatch.request.path_parameters", :digest)
      headers = {
        "Content-Type" => CONTENT_TYPE,
        "ETag" => @etag,
        "Cache-Control" => digest == @digest ? "public, max-age=31536000, immutable" : "no-cache",
        "X-Content-Type-Options" => "nosniff",
      }
      if fresh?(env["HTTP_IF_NONE_MATCH"])
        [304, headers, []]
      else
        [200, headers.merge("Content-Length" => @body.bytesize.to_s), [@body]]
      end
    end

    private

    def fresh?(if_none_match)
      return false if if_none_match.nil?

      if_none_match.split(",").map { |t| t.strip.delete_prefix("W/") }.any? { |t| t == @etag || t == "*" }
    end
  end
end
