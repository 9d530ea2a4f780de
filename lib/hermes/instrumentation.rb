# frozen_string_literal: true

module Hermes
  # ActiveSupport::Notifications events for what the app asks of Hermes, so that APM tools
  # (Datadog, AppSignal, Skylight, New Relic, Scout...) and `ActiveSupport::Notifications.subscribe`
  # see them beside the app's own SQL and HTTP calls:
  #
  #   mint.hermes       a token minted: generate_token / check_token / compose_token (kind
  #                     "room"), streams_token (kind "streams"), the connect tag's and the
  #                     token endpoint's included
  #   enqueue.hermes    enqueue_notification / enqueue_notifications
  #   broadcast.hermes  broadcast / broadcast_many, and Action Cable's adapter
  #
  # The payload names what the call concerned (room, stream, user), its size in bytes (the data
  # as JSON) and its outcome (message ids); the duration is the event's own. It never holds a
  # token, the JWT secret, the passcode or the data itself. A call that raises still ends its
  # event, with ActiveSupport's :exception and :exception_object.
  #
  # The gem does not load ActiveSupport: outside Rails, events are sent only when the app has
  # loaded ActiveSupport::Notifications itself.
  module Instrumentation
    VIA = :hermes_instrumentation_via
    private_constant :VIA

    module_function

    # Runs the block inside event +name+ (without ActiveSupport, just runs it). The block gets
    # the payload, to add the outcome to.
    def instrument(name, payload)
      payload[:via] ||= Thread.current[VIA] || "api"
      return yield(payload) unless defined?(::ActiveSupport::Notifications)

      ::ActiveSupport::Notifications.instrument(name, payload) { yield(payload) }
    end

    # Marks the mints and broadcasts made in the block as made by +via+ ("connect_tag",
    # "token_endpoint", "action_cable"): the payload's :via, "api" otherwise.
    def via(name)
      before = Thread.current[VIA]
      Thread.current[VIA] = name
      yield
    ensure
      Thread.current[VIA] = before
    end
  end
end
