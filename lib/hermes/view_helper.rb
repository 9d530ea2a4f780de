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
  #   map naming "hermes" as the browser client served by the asset pipeline, so the module
  #   specifier "hermes" resolves with or without importmap;
  # - a module script that connects with a freshly minted token and, when the app mounts
  #   Hermes::Engine, a way to fetch a new token when the gateway refuses the old one.
  #
  # Nobody signed in (the initializer's procs answer nil): only the first two, no token.
  # The backend unreachable (hermes-local stopped, DynamoDB down): one line in the log and a
  # page without live notifications, whose client asks the refresh endpoint later; with
  # `c.raise_connect_errors = true` (tests) the error is raised instead.
  module ViewHelper
    UNSET = Object.new.freeze
    private_constant :UNSET

    STUB_JS = File.read(File.expand_path("../../vendor/javascript/hermes-stub.js", __dir__))
                  .lines.reject { |l| l.lstrip.start_with?("//") }.join.strip.freeze

    class << self
      # Set at boot from config/importmap.rb (Hermes::Engine).
      attr_accessor :importmap_pins_hermes

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
      def log_unavailable(error)
        logger = defined?(::Rails) && ::Rails.respond_to?(:logger) ? ::Rails.logger : nil
        logger&.warn("[hermes] no live notifications for this page: #{error.class}: #{error.message}")
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
        map = JSON.generate(imports: { "hermes" => asset_path("hermes.js") })
        tags << hermes_script(hermes_escape(map), nonce, type: "importmap")
      end
      return safe_join(tags, "\n") if who.nil?

      options = {
        url: hermes_websocket_url(config, url),
        stage: (stage || config[:stage] || (defined?(::Rails) ? ::Rails.env.to_s : "development")).to_s,
        token: hermes_token(config, *who),
        refresh: hermes_refresh,
      }
      js = "import { connect, install, tokenEndpoint } from \"hermes\";\n" \
           "const o = #{hermes_escape(JSON.generate(options))};\n" \
           "install(connect({ ...o, refreshToken: o.refresh && tokenEndpoint(o.refresh.url, o.refresh.csrf) }));"
      tags << hermes_script(js, nonce, type: "module")
      safe_join(tags, "\n")
    end

    private

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
