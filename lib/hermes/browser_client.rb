# frozen_string_literal: true

require "digest"

module Hermes
  # The browser client (vendor/javascript/hermes.js) served by the mounted engine, for apps
  # without an asset pipeline (API-only apps, `rails new --skip-sprockets`): hermes_connect_tag's
  # import map then points at GET /hermes/hermes-<digest>.js. A Rack endpoint, not a controller:
  # no session, no CSRF, none of the app's before_actions (a page must load it signed out too).
  #
  # The digested path is cacheable for a year (a new gem version is a new digest); the plain
  # /hermes/hermes.js, and a digest that is not the current one (a page rendered before a
  # deploy), must be revalidated, with the ETag.
  class BrowserClient
    BODY = File.binread(File.expand_path("../../vendor/javascript/hermes.js", __dir__)).freeze
    DIGEST = Digest::SHA256.hexdigest(BODY)[0, 16]
    ETAG = %("#{DIGEST}").freeze
    CONTENT_TYPE = "text/javascript; charset=utf-8"

    # The digested file name, as the engine's route (config/routes.rb) spells it.
    def self.file_name
      "hermes-#{DIGEST}.js"
    end

    def self.call(env)
      digest = env.dig("action_dispatch.request.path_parameters", :digest)
      headers = {
        "Content-Type" => CONTENT_TYPE,
        "ETag" => ETAG,
        "Cache-Control" => digest == DIGEST ? "public, max-age=31536000, immutable" : "no-cache",
        "X-Content-Type-Options" => "nosniff",
      }
      if fresh?(env["HTTP_IF_NONE_MATCH"])
        [304, headers, []]
      else
        [200, headers.merge("Content-Length" => BODY.bytesize.to_s), [BODY]]
      end
    end

    def self.fresh?(if_none_match)
      return false if if_none_match.nil?

      if_none_match.split(",").map { |t| t.strip.delete_prefix("W/") }.any? { |t| t == ETAG || t == "*" }
    end
    private_class_method :fresh?
  end
end
