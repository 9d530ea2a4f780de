# frozen_string_literal: true

require "json"
require_relative "hermes/version"
require_relative "hermes/error"

module Hermes
  # Where the extension is: a platform gem (`rake native:gem`) keeps one build per Ruby minor
  # version in lib/hermes/3.1/ (rake-compiler's fat-gem layout); the source gem and `rake compile`
  # put it in lib/hermes/.
  def self.load_native
    abi = File.join(__dir__, "hermes", RUBY_VERSION[/\A\d+\.\d+/])
    require File.join(Dir.exist?(abi) ? abi : File.join(__dir__, "hermes"), "hermes_native")
  rescue LoadError => e
    begin
      # A packaging that puts it in site_arch (distribution packages).
      require "hermes/hermes_native"
    rescue LoadError
      built = Dir.glob(File.join(__dir__, "hermes", "[0-9]*.[0-9]*")).map { |d| File.basename(d) }.sort
      held = built.empty? ? "" : " (this gem holds builds for Ruby #{built.join(", ")})"
      raise LoadError, "hermes-notifications has no native extension for Ruby #{RUBY_VERSION}#{held}: " \
                       "install the gem made for this Ruby, or the source gem, which compiles it with cargo " \
                       "(`rake compile` in a checkout). #{e.message}"
    end
  end
  private_class_method :load_native
  load_native
end

# After the extension: the settings' names come from it.
require_relative "hermes/configuration"
require_relative "hermes/type_name"
require_relative "hermes/json_data"
require_relative "hermes/ids"
require_relative "hermes/streams"
require_relative "hermes/local_backend"
require_relative "hermes/instrumentation"
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
#   Hermes.broadcast(stream: "board_1", data: { moved: 7 })   # to pages holding Hermes.signed_stream_name("board_1")
module Hermes
  @mutex = Mutex.new
  # Always set, so reading it needs no lock: a ConfigurationError raised while `configure` or
  # `client` holds the lock reads it to word its message.
  @config = Configuration.new

  class << self
    attr_reader :config

    # Changes settings and drops the client built from the old ones.
    def configure
      @mutex.synchronize do
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
      @mutex.synchronize { @client ||= Client.new(@config) }
    end
  end

  extend API
end

require_relative "hermes/engine" if defined?(Rails::Railtie)
