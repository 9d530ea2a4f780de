# frozen_string_literal: true

module Hermes
  # POST /hermes/token: a fresh token for a page whose token was refused (the gateway
  # restarted, the token expired or was revoked, API Gateway closed the socket after 2 hours).
  # For the signed-in user, the user and company are the ones config/initializers/hermes.rb
  # names (c.current_user_id, c.current_company_code), never anything from the request; when
  # nobody is signed in, a streams token (`"anonymous": true`: signed streams only, as
  # hermes_connect_tag gives such a page).
  #
  # It inherits the app's ApplicationController, so the app's authentication helpers and
  # filters apply; it always checks the CSRF token, and answers only same-origin requests.
  class TokensController < ::ApplicationController
    protect_from_forgery with: :exception if respond_to?(:protect_from_forgery)

    def create
      response.headers["Cache-Control"] = "no-store"
      return render(json: { error: "cross-origin request refused" }, status: :forbidden) unless same_origin?

      who = Hermes::PageIdentity.current(self)
      Hermes::Instrumentation.via("token_endpoint") do
        if who.nil?
          render json: { token: Hermes.client.streams_token, anonymous: true }
        else
          render json: { token: who.token }
        end
      end
    rescue Hermes::StoreError, Hermes::LocalBackendError => e
      Hermes::Log.unavailable(e)
      render json: { error: "live notifications are unavailable right now" }, status: :service_unavailable
    end

    private

    # Browsers send Origin on a POST and Sec-Fetch-Site on every request; a request from
    # another site is refused even if it somehow carries a valid CSRF token.
    def same_origin?
      site = request.headers["Sec-Fetch-Site"]
      return false if site && site != "same-origin"

      origin = request.headers["Origin"]
      origin.nil? || origin == request.base_url
    end
  end
end
