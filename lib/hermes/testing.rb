# frozen_string_literal: true

require "hermes"

module Hermes
  # Test mode: Hermes on the memory backend (nothing leaves the process; tokens are real JWTs),
  # and what the app's code queued, for assertions. `require "hermes/rspec"` enables it for
  # every example and adds the have_enqueued_notification matcher; other test frameworks
  # `require "hermes/testing"`, call Hermes::Testing.enable! once and Hermes::Testing.clear
  # before each test.
  #
  #   expect(Hermes::Testing.notifications).to be_empty
  #   Hermes.revoke_token(user_id: 42, company_code: "ACME")
  #   expect(Hermes::Testing.disconnects).to eq([{ "room_id" => "ACME", "user_id" => "42", "reason" => "revoked" }])
  #   Hermes::Testing.connect(user_id: 42, room_id: "ACME")   # then Hermes.presence(room_id: "ACME") == ["42"]
  #   Hermes.broadcast(stream: "board_1", data: "<turbo-stream ...>")
  #   expect(Hermes::Testing.broadcasts).to eq([{ "stream" => "board_1", "data" => "<turbo-stream ...>" }])
  #   Hermes::Testing.connect(user_id: 42, stream: "board_1") # then Hermes.presence(stream: "board_1") == ["42"]
  #
  # None of this is loaded in production: the production classes have no test hooks.
  module Testing
    SECRET = "hermes-test-mode-secret-for-hs512-0123456789"

    # The memory backend behind one client (Hermes::Native::MemoryBackend, which shares the
    # client's queue and connections), read and arranged the way a test needs.
    class Memory
      def initialize(client)
        @native = client.memory_backend
      end

      # Every record queued so far, oldest first, as the JSON bodies SQS would hold; they
      # leave the queue.
      def bodies
        @native.drain_queue
      end

      # The same, parsed: notifications and disconnect records
      # ({"hermes" => "disconnect", "target" => {...}}) alike.
      def records
        # The body wraps data in one more object than data may nest.
        bodies.map { |body| JSON.parse(body, max_nesting: JSONData::MAX_DEPTH + 1) }
      end

      # The notifications queued so far, oldest first, String keys; control records are
      # drained and left out.
      def notifications
        records.reject { |record| record.key?("hermes") }
      end

      # A connection of +user_id+ to +room_id+, as if a browser had connected: Hermes.presence
      # counts it.
      def connect(connection_id, user_id:, room_id:)
        @native.join(connection_id, user_id, room_id)
      end

      # A subscription of a page of +user_id+ (nil: a page where nobody is signed in) to
      # +stream+: Hermes.presence(stream:) counts it.
      def subscribe(connection_id, user_id:, stream:)
        @native.subscribe(connection_id, user_id, Streams.name(stream))
      end

      def clear_connections
        @native.clear_connections
      end
    end

    # Hermes::Client learns where its memory backend is only when this file is loaded.
    module ClientMemory
      # The test surface of this client's memory backend; an ArgumentError on another backend.
      def memory_backend
        raise ArgumentError, "Hermes::Testing needs the memory backend, not #{backend}" unless backend == "memory"

        Native::MemoryBackend.new(@backend)
      end
    end
    Client.include(ClientMemory)

    module_function

    # Switches Hermes to the memory backend. Keeps a configured secret/passcode (so a spec
    # can decode tokens with the app's secret) and fills in test ones otherwise. A Secrets
    # Manager secret (secret_id, HERMES_SECRET_ID) is not read: "" wins over the environment.
    def enable!
      Hermes.configure do |c|
        c.backend = "memory"
        c.secret_id = ""
        c.jwt_secret ||= ENV["HERMES_JWT_SECRET"] || SECRET
        c.passcode ||= ENV["HERMES_PASSCODE"] || "hermes-test-mode-passcode"
        c.bcrypt_cost ||= 4 # the cheapest bcrypt: tests mint many tokens
      end
    end

    # The memory backend of +client+ (Hermes.client unless told).
    def memory(client = Hermes.client)
      Memory.new(client)
    end

    # What was enqueued since the last call (or `clear`), oldest first, String keys.
    def notifications
      drain
      @seen.dup
    end

    # The disconnects queued (Hermes.revoke_token, Hermes.disconnect) since `clear`, oldest
    # first: [{"room_id" => ..., "user_id" => ..., "reason" => "revoked" | "disconnect"}].
    def disconnects
      drain
      @disconnects.dup
    end

    # The broadcasts queued (Hermes.broadcast, and Action Cable's broadcasts with
    # `adapter: hermes`) since the last `take_broadcasts` (or `clear`), oldest first:
    # [{"stream" => "board_1", "data" => ...}].
    def broadcasts
      drain
      @broadcasts.dup
    end

    # A browser of +user_id+ connected to +room_id+, or subscribed to +stream+ (+user_id+ nil: a
    # page where nobody is signed in), as far as Hermes.presence can tell.
    def connect(user_id: nil, room_id: nil, stream: nil)
      raise ArgumentError, "connect takes room_id: or stream:, not #{room_id.nil? ? "neither" : "both"}" if room_id.nil? == stream.nil?

      @connections = (@connections || 0) + 1
      id = "test-connection-#{@connections}"
      return memory.subscribe(id, user_id: user_id, stream: stream) if room_id.nil?

      memory.connect(id, user_id: user_id, room_id: room_id)
    end

    # Nothing queued, recorded or connected.
    def clear
      backend = memory
      backend.bodies
      backend.clear_connections
      @seen = []
      @disconnects = []
      @broadcasts = []
    end

    # The notifications since the last `take` (or `clear`), which are then forgotten.
    def take
      list = notifications
      @seen = []
      list
    end

    # The broadcasts since the last `take_broadcasts` (or `clear`), which are then forgotten.
    def take_broadcasts
      list = broadcasts
      @broadcasts = []
      list
    end

    def drain
      @seen ||= []
      @disconnects ||= []
      @broadcasts ||= []
      memory.records.each do |record|
        case record["hermes"]
        when "disconnect" then @disconnects << record.fetch("target").merge("reason" => record["reason"])
        when "broadcast" then @broadcasts << record.slice("stream", "data")
        when nil then @seen << record
        end
      end
    end
    private_class_method :drain
  end
end
