# frozen_string_literal: true

require "json"

module Hermes
  # One line in a layout opens the page's WebSocket, as the seed's snippet did:
  #
  #   <%= hermes_connect_tag(user_id: current_user.id, company_code: current_company.code) %>
  #
  # renders a module script that imports the browser client (vendor/javascript/hermes.js,
  # pinned as "hermes" with importmap) and calls connect({url, stage, token}). The client is
  # then `window.Hermes`, for `Hermes.subscribe("info", callback)`.
  module ViewHelper
    def hermes_connect_tag(user_id:, company_code:, stage: nil, url: nil, import: "hermes", nonce: true)
      config = Hermes.config
      stage ||= config[:stage] || (defined?(Rails) ? Rails.env.to_s : "development")
      url ||= config[:websocket_url] || (config.backend_name == "aws" ? nil : config[:local_url]&.sub(/\Ahttp/, "ws"))
      raise ConfigurationError, "hermes_connect_tag needs the WebSocket URL: set HERMES_WEBSOCKET_URL (the stack's WebSocketUrl output without the stage)" if url.nil?

      token = Hermes.generate_token(user_id: user_id, company_code: company_code)
      options = { url: url.to_s.sub(%r{/\z}, ""), stage: stage.to_s, token: token }
      # JSON inside <script>: escape what could close the tag or start a comment.
      args = JSON.generate(options).gsub("<", "\\u003c").gsub(">", "\\u003e").gsub("&", "\\u0026")
      js = "import { connect } from #{JSON.generate(import)};\nwindow.Hermes = connect(#{args});"
      attrs = { type: "module" }
      attrs[:nonce] = content_security_policy_nonce if nonce && respond_to?(:content_security_policy_nonce) && content_security_policy_nonce
      content_tag(:script, js.html_safe, attrs)
    end
  end
end
