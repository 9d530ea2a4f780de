# frozen_string_literal: true

module Hermes
  # The API, bound to one configuration. Hermes.generate_token and friends (and the seed's
  # Notification::NotificationAuthorizer) use a process-wide Client built from Hermes.config.
  #
  # Every call that hashes (bcrypt) or talks to AWS runs with the GVL released, so other
  # Ruby threads keep running. Safe across fork: the native side rebuilds its runtime and
  # AWS clients in a child process.
  class Client
    # An argument not given (nil is given: it is refused with the argument's name).
    UNSET = Object.new.freeze
    private_constant :UNSET

    attr_reader :config

    def initialize(config = Hermes.config)
      @config = config
      @backend = if config.backend_name == "local"
                   LocalBackend.new(config)
                 else
                   Native::Client.new(config.to_env)
                 end
    end

    # The JWT a page passes to the WebSocket as ?token=. Stores the bcrypt hash of the token
    # in the tokens table first; a hash this process stored that is still fresh is reused
    # (no bcrypt, no write), so calling this on every page view is cheap.
    def generate_token(user_id:, company_code:)
      minting(user_id, company_code) { @backend.generate_token(user_id, company_code) }
    end

    # The seed's view calls this name.
    alias check_token generate_token

    # The hex token (SHA-256 of user_id + passcode + company_code), after storing its hash.
    def compose_token(user_id:, company_code:)
      minting(user_id, company_code) { @backend.compose_token(user_id, company_code) }
    end

    # Deletes the stored hash: every token minted for this user and room stops connecting.
    # Then closes the user's open sockets in that room, within seconds: a disconnect record goes
    # through the queue to the send function, which holds ManageConnections (the app does not
    # need it). Returns whether there was a stored hash. Needs the queue (HERMES_QUEUE_URL);
    # if the disconnect cannot be queued, the token stays revoked and Hermes::QueueError says so.
    def revoke_token(user_id:, company_code:)
      @backend.revoke_token(user_id, company_code)
    end

    # Closes the user's open sockets in +room_id+ (through the queue, like revoke_token) without
    # revoking the token: the page reconnects with it, recovering what it missed. Returns the
    # SQS message id of the disconnect record.
    def disconnect(user_id:, room_id:)
      @backend.disconnect(user_id, room_id)
    end

    # The user ids connected to +room_id+ right now, or subscribed to +stream+ (give one),
    # distinct and sorted (Strings): a Query on the connections table's room index, or on the
    # subscriptions table's key (never a Scan). Pages where nobody is signed in count for no user.
    def presence(room_id: UNSET, stream: UNSET)
      if room_id.equal?(UNSET) == stream.equal?(UNSET)
        raise ArgumentError, "presence takes room_id: or stream:, not #{room_id.equal?(UNSET) ? "neither" : "both"}"
      end

      room_id.equal?(UNSET) ? @backend.stream_presence(Streams.name(stream)) : @backend.presence(room_id)
    end

    # Where +room_id+'s history stands: { seq: 12, epoch: "9f2c0e4b7a1d3c58" }, or
    # { seq: 0, epoch: nil } when the room has had no message yet. hermes_connect_tag embeds it,
    # so the page's first socket recovers what was sent between the render and its opening
    # (`recover` in docs/protocol.md). One eventually consistent read of the room's counter (a
    # DynamoDB GetItem on the history table); it never creates the counter.
    def position(room_id:)
      seq, epoch = @backend.position(room_id)
      { seq: seq, epoch: epoch }
    end

    # Queues +data+ for every browser connected to +room_id+ (or only +to_user_id+'s).
    # Returns the SQS message id.
    def enqueue_notification(user_id:, room_id:, data:, to_user_id: nil)
      json = JSONData.generate(data)
      payload = { room_id: room_id, user_id: user_id, count: 1, bytes: json.bytesize }
      payload[:to_user_id] = to_user_id unless to_user_id.nil?
      Instrumentation.instrument("enqueue.hermes", payload) do |p|
        p[:message_id] = @backend.enqueue(user_id, room_id, json, to_user_id)
      end
    end

    # Queues many at once (SQS batches of 10). +notifications+: an Array of Hashes with
    # :user_id, :room_id, :data and optionally :to_user_id. Returns the message ids in order.
    # Raises Hermes::PartialBatchError if some were queued and some were not.
    def enqueue_notifications(notifications)
      entries = batch_entries(notifications, "notification", %i[user_id room_id data]) do |get|
        [get.(:user_id), get.(:room_id), JSONData.generate(get.(:data)), get.(:to_user_id)]
      end
      payload = { room_ids: entries.map { |e| e[1] }.uniq, count: entries.size, bytes: entries.sum { |e| e[2].bytesize } }
      Instrumentation.instrument("enqueue.hermes", payload) do |p|
        p[:message_ids] = @backend.enqueue_batch(entries)
      end
    end

    # Queues +data+ for every page subscribed to +stream+ (a name, or streamables as
    # turbo_stream_from takes them: Hermes::Streams.name). Returns the SQS message id.
    def broadcast(stream:, data:)
      broadcasting(Streams.name(stream), JSONData.generate(data))
    end

    # The same with JSON text sent as it is, byte for byte: what Action Cable already encoded
    # (lib/action_cable/subscription_adapter/hermes.rb). An ArgumentError unless it is one
    # JSON value.
    def broadcast_json(stream:, json:)
      raise ArgumentError, "json must be a String of JSON text, got #{TypeName.of(json)}" unless ::String === json # rubocop:disable Style/CaseEquality

      broadcasting(Streams.name(stream), json)
    end

    # Queues many at once (SQS batches of 10): an Array of Hashes with :stream and :data.
    # Returns the message ids in order; Hermes::PartialBatchError if some were queued and some
    # were not.
    def broadcast_many(broadcasts)
      entries = batch_entries(broadcasts, "broadcast", %i[stream data]) do |get|
        [Streams.name(get.(:stream)), JSONData.generate(get.(:data))]
      end
      payload = { streams: entries.map(&:first).uniq, count: entries.size, bytes: entries.sum { |e| e[1].bytesize } }
      Instrumentation.instrument("broadcast.hermes", payload) do |p|
        p[:message_ids] = @backend.broadcast_batch(entries)
      end
    end

    # The token of a page where nobody is signed in: its socket can only subscribe to signed
    # streams. One HMAC: no bcrypt, no table write.
    def streams_token
      Instrumentation.instrument("mint.hermes", { kind: "streams" }) { @backend.streams_token }
    end

    # The key stream names are signed with now (Streams.key; the native backends only).
    def stream_key
      @backend.stream_key
    end

    # "aws", "memory" or "local".
    def backend
      @backend.backend
    end

    private

    # The entries of a batch call, each a Hash with +keys+ (Symbol or String keys), checked
    # alike for every batch: +noun+ names one entry in the errors. Yields a reader of one
    # entry's values and maps the batch to what the block gives.
    def batch_entries(list, noun, keys)
      raise ArgumentError, "#{noun}s must be an Array of Hashes, got #{TypeName.of(list)}" unless ::Array === list # rubocop:disable Style/CaseEquality

      named = "#{keys[0..-2].map(&:inspect).join(", ")} and #{keys.last.inspect}"
      list.each_with_index.map do |entry, i|
        unless ::Hash === entry # rubocop:disable Style/CaseEquality
          raise ArgumentError, "#{noun} ##{i} must be a Hash with #{named}, got #{TypeName.of(entry)}"
        end

        missing = keys.reject { |k| entry.key?(k) || entry.key?(k.to_s) }
        raise ArgumentError, "#{noun} ##{i} is missing #{missing.join(", ")}" unless missing.empty?

        yield ->(k) { entry.key?(k) ? entry[k] : entry[k.to_s] }
      end
    end

    # A room token's mint.hermes event: who and where, never the token.
    def minting(user_id, company_code, &mint)
      Instrumentation.instrument("mint.hermes", { kind: "room", user_id: user_id, room_id: company_code }) { mint.call }
    end

    def broadcasting(stream, json)
      Instrumentation.instrument("broadcast.hermes", { stream: stream, count: 1, bytes: json.bytesize }) do |p|
        p[:message_id] = @backend.broadcast(stream, json)
      end
    end
  end
end
