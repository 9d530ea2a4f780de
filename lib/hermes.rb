# frozen_string_literal: true

require "json"
require_relative "hermes/version"
require_relative "hermes/error"

begin
  # Installed gem: the extension sits in the gem's lib dir or in site_arch.
  require "hermes/hermes_native"
rescue LoadError
  require_relative "hermes/hermes_native"
end

# After the extension: the settings' names come from it.
require_relative "hermes/configuration"
require_relative "hermes/json_data"
require_relative "hermes/local_backend"
require_relative "hermes/client"
require_relative "hermes/api"
require_relative "hermes/notification_authorizer"

# Real-time notifications from Rails to browsers over API Gateway WebSockets.
#
#   Hermes.configure do |c|
#     c.jwt_secret = Rails.application.credentials.hermes[:jwt_secret]
#     c.passcode   = Rails.application.credentials.hermes[:passcode]
#     c.queue_url  = "https://sqs.eu-west-1.amazonaws.com/123456789012/hermes-messageQueue"
#   end
#
#   Hermes.generate_token(user_id: current_user.id, company_code: company.code)  # in a view
#   Hermes.enqueue_notification(user_id: 1, room_id: "ACME", data: { type: "info", data: "Done" })
module Hermes
  @mutex = Mutex.new

  class << self
    def config
      @mutex.synchronize { @config ||= Configuration.new }
    end

    # Changes settings and drops the client built from the old ones.
    def configure
      @mutex.synchronize do
        @config ||= Configuration.new
        yield @config
        @client = nil
      end
      self
    end

    # Back to environment-only settings (tests).
    def reset!
      @mutex.synchronize do
        @config = Configuration.new
        @client = nil
      end
    end

    def client
      @mutex.synchronize { @client ||= Client.new(@config ||= Configuration.new) }
    end
  end

  extend API
end

require_relative "hermes/railtie" if defined?(Rails::Railtie)
