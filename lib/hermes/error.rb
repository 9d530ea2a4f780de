# frozen_string_literal: true

module Hermes
  # Everything Hermes raises (besides ArgumentError for bad arguments) is a Hermes::Error.
  # Messages name what went wrong; they never contain a secret or a token.
  class Error < StandardError; end

  # A required setting is missing or invalid (HERMES_JWT_SECRET shorter than 32 bytes, ...).
  # The message names both places the value can come from: the app's credentials
  # (`hermes: jwt_secret:`) and the environment variable (HERMES_JWT_SECRET); in development,
  # it also mentions the local backend, which needs no AWS settings at all.
  class ConfigurationError < Error
    def initialize(message = nil)
      super(message.nil? ? nil : Configuration.explain(message.to_s))
    end
  end

  # DynamoDB (the tokens table) could not be read or written.
  class StoreError < Error; end

  # SQS refused or could not be reached.
  class QueueError < Error; end

  # Some notifications of a batch were queued and some were not.
  # +sent+ maps batch index => SQS message id, +failed+ maps batch index => reason.
  class PartialBatchError < QueueError
    attr_reader :sent, :failed

    def initialize(message = nil, sent = {}, failed = {})
      super(message)
      @sent = sent
      @failed = failed
    end
  end

  # The notification would not fit API Gateway's 128 KB WebSocket message limit.
  class PayloadTooLargeError < Error; end

  # Signing the JWT or hashing the token failed.
  class TokenError < Error; end

  # The local backend could not reach hermes-local, or it answered with an error.
  class LocalBackendError < Error; end
end
