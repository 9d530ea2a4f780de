# frozen_string_literal: true

require "json"

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
  #   map naming "hermes" as the browser client, so the module specifier "hermes" resolves
  #   with or without importmap: served by the asset pipeline, or by the mounted
  #   Hermes::Engine when the app has none (API-only, --skip-sprockets);
  # - a module script that starts the page's client with a freshly minted token, the room's
  #   position in its history at render time (so what is sent before the socket opens is
  #   recovered, not lost) and, when the app mounts Hermes::Engine, a way to fetch a new token
  #   when the gateway refuses the old one. Running it again (Turbo and Turbolinks run a new
  #   page's head scripts on each visit) keeps the page's live client when it is for the same
  #   gateway, stage and user, giving it the new token; otherwise the old client is closed
  #   first. One socket per page, whatever the navigation.
  #
  # Nobody signed in (the initializer's procs answer nil): the first two, no token, and a
  # script closing a client a previous Turbo visit left open for someone who signed out.
  # The backend unreachable (hermes-local stopped, DynamoDB down): one line in the log and a
  # page without live notifications, whose client asks the refresh endpoint later; with
  # `c.raise_connect_errors = true` (tests) the error is raised instead. The position
  # unreadable: one line in the log, and the page connects without it.
  module ViewHelper
    UNSET = Object.new.freeze
    private_constant :UNSET

    STUB_JS = File.read(File.expand_path("../../vendor/javascript/hermes-stub.js", __dir__))
                  .lines.reject { |l| l.lstrip.start_with?("//") }.join.strip.freeze

    # Closes a client that a Turbo visit left open once nobody is signed in; on a page's first
    # load window.Hermes is the stub, whose close() does nothing.
    SIGNED_OUT_JS = "window.Hermes.close();"

    class << self
      # Set at boot from config/importmap.rb (Hermes::Engine).
      attr_accessor :importmap_pins_hermes
      # Set at boot (Hermes::Engine): whether the app has Sprockets or Propshaft to serve
      # hermes.js; without one the mounted engine serves it.
      attr_accessor :asset_pipeline

      # [user_id, company_code] from the initializer's procs, run on +controller+; nil when
      # either answers nil (nobody signed in).
      def identify(controller)
        config = Hermes.config
        procs = [config.current_user_id, config.current_company_code]
        if procs.any?(&:nil?)
          raise ConfigurationError, "Hermes does not know who the page is for: set c.current_user_id and " \
                                    "c.current_company_code in config/initializers/hermes.rb (or pass user_id: " \
                                    "and company_code: to hermes_connect_tag)"
        end
        who = procs.map { |pr| pr.arity.zero? ? controller.instance_exec(&pr) : controller.instance_exec(controller, &pr) }
        who.any?(&:nil?) ? nil : who
      end

      # One line, naming what failed (the messages hold no secrets and no tokens).
      def log_unavailable(error, consequence = "no live notifications for this page")
        logger&.warn("[hermes] #{consequence}: #{error.class}: #{error.message}")
      end

      # A configuration problem, once per process (not once per page).
      def warn_once(key, message)
        @warned ||= {}
        return if @warned[key]

        @warned[key] = true
        logger&.warn("[hermes] #{message}")
      end

      def logger
        defined?(::Rails) && ::Rails.respond_to?(:logger) ? ::Rails.logger : nil
      end
    end

    def hermes_connect_tag(user_id: UNSET, company_code: UNSET, stage: nil, url: nil, nonce: true)
      config = Hermes.config
      given = [user_id, company_code].count { |v| !v.equal?(UNSET) }
      raise ArgumentError, "hermes_connect_tag takes both user_id: and company_code:, or neither" if given == 1

      who = given == 2 ? [user_id, company_code] : ViewHelper.identify(controller)
      who = nil if who&.any?(&:nil?)
      tags = [hermes_script(STUB_JS, nonce)]
      unless ViewHelper.importmap_pins_hermes
        map = JSON.generate(imports: { "hermes" => hermes_client_path })
        tags << hermes_script(hermes_escape(map), nonce, type: "importmap")
      end
      return safe_join(tags << hermes_script(SIGNED_OUT_JS, nonce), "\n") if who.nil?

      token = hermes_token(config, *who)
      options = {
        url: hermes_websocket_url(config, url),
        stage: (stage || config[:stage] || (defined?(::Rails) ? ::Rails.env.to_s : "development")).to_s,
        user_id: who[0],
        room_id: who[1].to_s,
        token: token,
        position: token && hermes_position(who[1]),
        refresh: hermes_refresh,
      }
      js = "import { start, tokenEndpoint } from \"hermes\";\n" \
           "const o = #{hermes_escape(JSON.generate(options))};\n" \
           "start({ ...o, refreshToken: o.refresh && tokenEndpoint(o.refresh.url, o.refresh.csrf) });"
      tags << hermes_script(js, nonce, type: "module")
      safe_join(tags, "\n")
    end

    private

    # Where the import map finds the browser client: the asset pipeline's digested path, or,
    # without a pipeline, the mounted engine's (Hermes::BrowserClient).
    def hermes_client_path
      return asset_path("hermes.js") unless ViewHelper.asset_pipeline == false

      if respond_to?(:hermes) && hermes.respond_to?(:client_path)
        hermes.client_path(digest: BrowserClient::DIGEST)
      else
        ViewHelper.warn_once(:unmounted, "this app has no asset pipeline, so the browser client is served by " \
                                         "Hermes::Engine: mount it in config/routes.rb " \
                                         "(mount Hermes::Engine, at: \"/hermes\"; bin/rails g hermes:install adds it)")
        asset_path("hermes.js")
      end
    end

    # { seq:, epoch: } where the room's history stood at render (epoch nil: no message yet);
    # nil when it cannot be read, and the page connects without it.
    def hermes_position(company_code)
      Hermes.position(room_id: company_code)
    rescue StoreError, LocalBackendError => e
      ViewHelper.log_unavailable(e, "the page may miss what is sent before its socket opens")
      nil
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

    # nil when the backend cannot be reached: the page still renders, and its client gets a
    # token from the refresh endpoint once the backend is back.
    def hermes_token(config, user_id, company_code)
      Hermes.generate_token(user_id: user_id, company_code: company_code)
    rescue StoreError, LocalBackendError => e
      raise if config.raise_connect_errors

      ViewHelper.log_unavailable(e)
      nil
    end

    # The mounted Hermes::Engine's token endpoint (same origin, POST with the CSRF token),
    # when the initializer names the user and company it mints for.
    def hermes_refresh
      return nil unless respond_to?(:hermes) && hermes.respond_to?(:token_path)
      return nil if Hermes.config.current_user_id.nil? || Hermes.config.current_company_code.nil?

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
