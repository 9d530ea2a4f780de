# frozen_string_literal: true

module Hermes
  # Who a request is for (a page being rendered, or the token refresh endpoint), and what is
  # minted for them. The user and company come from the initializer's procs run on the
  # controller (c.current_user_id, c.current_company_code), or from hermes_connect_tag's
  # arguments; never from anything the request says.
  class PageIdentity
    attr_reader :user_id, :company_code

    # The signed-in user's identity for +controller+'s request, or nil when nobody is signed in
    # (either proc answers nil).
    def self.current(controller)
      config = Hermes.config
      procs = [config.current_user_id, config.current_company_code]
      if procs.any?(&:nil?)
        raise ConfigurationError, "Hermes does not know who the page is for: set c.current_user_id and " \
                                  "c.current_company_code in config/initializers/hermes.rb (or pass user_id: " \
                                  "and company_code: to hermes_connect_tag)"
      end
      of(*procs.map { |pr| pr.arity.zero? ? controller.instance_exec(&pr) : controller.instance_exec(controller, &pr) })
    end

    # The identity of +user_id+ in +company_code+, or nil when either is nil (nobody).
    def self.of(user_id, company_code)
      user_id.nil? || company_code.nil? ? nil : new(user_id, company_code)
    end

    # The token of a page where nobody is signed in (signed streams only), or nil when the
    # backend cannot be reached (one log line; the page's client asks the refresh endpoint
    # later). With `c.raise_connect_errors = true` (tests) the error is raised instead.
    def self.streams_token_for_page
      Hermes.client.streams_token
    rescue StoreError, LocalBackendError => e
      raise if Hermes.config.raise_connect_errors

      Log.unavailable(e, "no live streams for this page")
      nil
    end

    # Whether the initializer names the user and company (the refresh endpoint needs it).
    def self.configured?
      config = Hermes.config
      !config.current_user_id.nil? && !config.current_company_code.nil?
    end

    def initialize(user_id, company_code)
      @user_id = user_id
      @company_code = company_code
    end

    # The JWT for the page's socket. Raises when the backend cannot be reached.
    def token
      Hermes.generate_token(user_id: user_id, company_code: company_code)
    end

    # For a page being rendered: the token, or nil when the backend cannot be reached (one log
    # line; the page renders and its client asks the refresh endpoint later). With
    # `c.raise_connect_errors = true` (tests) the error is raised instead.
    def token_for_page
      token
    rescue StoreError, LocalBackendError => e
      raise if Hermes.config.raise_connect_errors

      Log.unavailable(e)
      nil
    end

    # { seq:, epoch: } where the room's history stands (epoch nil: no message yet), so the
    # page's first socket recovers what is sent before it opens; nil when it cannot be read
    # (one log line), and the page connects without it.
    def position_for_page
      Hermes.position(room_id: company_code)
    rescue StoreError, LocalBackendError => e
      Log.unavailable(e, "the page may miss what is sent before its socket opens")
      nil
    end
  end
end
