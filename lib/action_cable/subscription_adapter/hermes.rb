# frozen_string_literal: true

require "action_cable/subscription_adapter/base"
require "hermes"

module ActionCable
  module SubscriptionAdapter
    # `adapter: hermes` in config/cable.yml: Action Cable's broadcasts go to Hermes's streams, so
    # turbo-rails' `broadcast_*_to`, `broadcast_*_later_to` and `broadcasts_to` reach the pages
    # that `turbo_stream_from` subscribed, through API Gateway, with no Action Cable server and
    # no Redis. (Action Cable requires this file by the adapter's name and constantizes
    # ActionCable::SubscriptionAdapter::Hermes.)
    #
    # `ActionCable.server.broadcast(name, message)` arrives here with the message already
    # encoded by Action Cable's coder (JSON): it becomes the data of Hermes's stream +name+
    # byte for byte, so a page gets exactly the value the message was (for Turbo, the HTML of
    # the <turbo-stream>).
    #
    # Only broadcasting: no server process holds the sockets, so channels whose Ruby code runs
    # for a subscriber (`stream_from` in a channel class, `perform`) are not supported.
    class Hermes < Base
      UNSUPPORTED = "the hermes Action Cable adapter only broadcasts (ActionCable.server.broadcast, Turbo Streams' " \
                    "broadcasts): pages subscribe through Hermes's browser client, and channels with server-side " \
                    "code (stream_from in a channel class, perform) are not supported"

      def broadcast(channel, payload)
        ::Hermes::Instrumentation.via("action_cable") do
          if ::String === payload # rubocop:disable Style/CaseEquality
            ::Hermes.client.broadcast_json(stream: channel, json: payload)
          else
            # `broadcast(name, message, coder: nil)` hands the message over as it is.
            ::Hermes.client.broadcast(stream: channel, data: payload)
          end
        end
      end

      def subscribe(*)
        raise NotImplementedError, UNSUPPORTED
      end

      def unsubscribe(*)
        raise NotImplementedError, UNSUPPORTED
      end

      # Nothing to close: every broadcast is one request, on the process-wide Hermes client.
      def shutdown; end
    end
  end
end
