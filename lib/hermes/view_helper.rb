# frozen_string_literal: true

require "json"
require_relative "page_identity"
require_relative "client_asset"
require_relative "log"

module Hermes
  # One line in a layout opens the page's WebSocket, as the seed's snippet did:
  #
  #   <%= hermes_connect_tag %>      # the user and company config/initializers/hermes.rb names
  #   <%= hermes_connect_tag(user_id: current_user.id, company_code: current_company.code) %>
  #
  # It renders three small scripts:
  # - a classic script defining `window.Hermes` at once, so a page script can call
  #   `Hermes.subscribe("info", callback)` before the module below has loaded (the
  #   subscriptions are queued and handed to the client when it connects);
  # - unless config/importmap.rb pins "hermes" (importmap-rails renders that map), an import
  #   map naming every file of the browser client ("hermes", "hermes/turbo", ...:
  #   Hermes::ClientAsset::ENTRIES), so the module specifiers resolve with or without
  #   importmap: served by the asset pipeline, or by the mounted Hermes::Engine when the app has
  #   none (API-only, --skip-sprockets);
  # - a module script that loads the Turbo Streams element ("hermes/turbo": what
  #   turbo_stream_from renders subscribes over the page's socket) and starts the page's client
  #   with a freshly minted token, the room's position in its history at render time (so what
  #   is sent before the socket opens is recovered, not lost) and, when the app mounts
  #   Hermes::Engine, a way to fetch a new token when the gateway refuses the old one. Running
  #   it again (Turbo and Turbolinks run a new page's head scripts on each visit) keeps the
  #   page's live client when it is for the same gateway, stage and user, giving it the new
  #   token; otherwise the old client is closed first. One socket per page, whatever the
  #   navigation.
  #
  # Nobody signed in (the initializer's procs answer nil): the client starts with a streams
  # token (`anonymous: true`: no user, no room; one HMAC to mint, no bcrypt, no table write),
  # and opens a socket only while the page holds a stream, so public pages get their Turbo
  # Streams as with turbo-rails. The backend unreachable (hermes-local stopped, DynamoDB down):
  # one line in the log and a page without live notifications, whose client asks the refresh
  # endpoint later; with `c.raise_connect_errors = true` (tests) the error is raised instead.
  # The position unreadable: one line in the log, and the page connects without it.
  #
  # A page hidden for `close_hidden_after` seconds (a background tab; default 60, from
  # `c.close_hidden_after` or the browser client's own default; `false`: never) closes its
  # socket until it is shown again, then recovers what it missed: API Gateway bills every
  # connected minute.
  module ViewHelper
    UNSET = Object.new.freeze
    private_constant :UNSET

    STUB_JS = File.read(File.expand_path("../../vendor/javascript/hermes-stub.js", __dir__))
                  .lines.reject { |l| l.lstrip.start_with?("//") }.join.strip.freeze

    def hermes_connect_tag(user_id: UNSET, company_code: UNSET, stage: nil, url: nil, nonce: true,
                           close_hidden_after: UNSET)
      config = Hermes.config
      given = [user_id, company_code].count { |v| !v.equal?(UNSET) }
      raise ArgumentError, "hermes_connect_tag takes both user_id: and company_code:, or neither" if given == 1

      who = given == 2 ? PageIdentity.of(user_id, company_code) : PageIdentity.current(controller)
      tags = [hermes_script(STUB_JS, nonce)]
      unless ClientAsset.importmap_pins_hermes
        map = JSON.generate(imports: ClientAsset.imports(self))
        tags << hermes_script(hermes_escape(map), nonce, type: "importmap")
      end
      options = {
        url: hermes_websocket_url(config, url),
        stage: (stage || config[:stage] || (defined?(::Rails) ? ::Rails.env.to_s : "development")).to_s,
      }
      Instrumentation.via("connect_tag") do
        if who.nil?
          options.merge!(anonymous: true, token: PageIdentity.streams_token_for_page)
        else
          token = who.token_for_page
          options.merge!(user_id: who.user_id, room_id: who.company_code.to_s, token: token,
                         position: token && who.position_for_page)
        end
      end
      options[:refresh] = hermes_refresh
      hidden = close_hidden_after.equal?(UNSET) ? config.close_hidden_after : close_hidden_after
      options[:closeHiddenAfterMs] = hermes_hidden_ms(hidden) unless hidden.nil?
      tags << hermes_script(hermes_start_js(options), nonce, type: "module")
      safe_join(tags, "\n")
    end

    private

    # Starts the page's client, and loads the Turbo Streams element ("hermes/turbo") without
    # the app importing it; where the import map lacks it, only Turbo Streams are missing.
    def hermes_start_js(options)
      "import { start, tokenEndpoint } from \"hermes\";\n" \
        "import(#{JSON.generate(ClientAsset::TURBO)}).catch(() => {});\n" \
        "const o = #{hermes_escape(JSON.generate(options))};\n" \
        "start({ ...o, refreshToken: o.refresh && tokenEndpoint(o.refresh.url, o.refresh.csrf) });"
    end

    # Seconds (an Integer, Float or ActiveSupport::Duration) as the client's milliseconds;
    # false as false (never close).
    def hermes_hidden_ms(seconds)
      return false if seconds == false
      unless seconds.is_a?(Numeric) && seconds.to_f.finite? && seconds >= 0
        got = seconds.is_a?(Numeric) ? "a negative or infinite number" : "a #{seconds.class}"
        raise ArgumentError, "close_hidden_after is a number of seconds (>= 0) or false, not #{got}"
      end

      (seconds.to_f * 1000).round
    end

    def hermes_websocket_url(config, url)
      url ||= config[:websocket_url]
      url ||= config.local_url_or_default.sub(/\Ahttp/, "ws") unless config.backend_name == "aws"
      if url.nil?
        raise ConfigurationError, "HERMES_WEBSOCKET_URL is not set: hermes_connect_tag needs the WebSocket URL " \
                                  "(the stack's WebSocketUrl output, without the stage)"
      end
      url.to_s.sub(%r{/\z}, "")
    end

    # The mounted Hermes::Engine's token endpoint (same origin, POST with the CSRF token),
    # when the initializer names the user and company it mints for.
    def hermes_refresh
      return nil unless respond_to?(:hermes) && hermes.respond_to?(:token_path)
      return nil unless PageIdentity.configured?

      csrf = respond_to?(:protect_against_forgery?) && protect_against_forgery? ? form_authenticity_token : nil
      { url: hermes.token_path, csrf: csrf }
    end

    def hermes_script(js, nonce, type: nil)
      attrs = {}
      attrs[:type] = type if type
      if nonce && respond_to?(:content_security_policy_nonce) && (n = content_security_policy_nonce)
        attrs[:nonce] = n
      end
      content_tag(:script, js.html_safe, attrs) # rubocop:disable Rails/OutputSafety
    end

    # JSON inside <script>: escape what could close the tag or start a comment.
    def hermes_escape(json)
      json.gsub("<", "\\u003c").gsub(">", "\\u003e").gsub("&", "\\u0026")
    end
  end
end
