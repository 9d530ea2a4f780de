# frozen_string_literal: true

module Hermes
  # The `[hermes]` lines in the Rails log: one per failure, one per configuration problem and
  # process. Messages name what failed; Hermes' errors hold no secret and no token.
  module Log
    @warned = {}
    @mutex = Mutex.new

    module_function

    # The backend could not be reached; +consequence+ says what the page loses.
    def unavailable(error, consequence = "no live notifications for this page")
      logger&.warn("[hermes] #{consequence}: #{error.class}: #{error.message}")
    end

    # A configuration problem, once per process (not once per page).
    def warn_once(key, message)
      first = @mutex.synchronize { @warned[key] ? false : (@warned[key] = true) }
      logger&.warn("[hermes] #{message}") if first
    end

    def logger
      defined?(::Rails) && ::Rails.respond_to?(:logger) ? ::Rails.logger : nil
    end
  end
end
