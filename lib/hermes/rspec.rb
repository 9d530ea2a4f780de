# frozen_string_literal: true

require "hermes"

module Hermes
  # `require "hermes/rspec"` in spec/rails_helper.rb: every example runs on the memory backend
  # (nothing leaves the process; tokens are real JWTs) and can assert on what was enqueued:
  #
  #   expect { job.perform_now }.to have_enqueued_notification(room_id: "ACME", data: { type: "info" })
  #   expect { ... }.to have_enqueued_notification(room_id: "ACME").to(42).exactly(2).times
  #   expect(Hermes::Testing.notifications).to be_empty
  #   Hermes.revoke_token(user_id: 42, company_code: "ACME")
  #   expect(Hermes::Testing.disconnects).to eq([{ "room_id" => "ACME", "user_id" => "42", "reason" => "revoked" }])
  #   Hermes::Testing.connect(user_id: 42, room_id: "ACME")   # then Hermes.presence(room_id: "ACME") == ["42"]
  module Testing
    SECRET = "hermes-test-mode-secret-for-hs512-0123456789"

    module_function

    # Switches Hermes to the memory backend. Keeps a configured secret/passcode (so a spec
    # can decode tokens with the app's secret) and fills in test ones otherwise.
    def enable!
      Hermes.configure do |c|
        c.backend = "memory"
        c.jwt_secret ||= ENV["HERMES_JWT_SECRET"] || SECRET
        c.passcode ||= ENV["HERMES_PASSCODE"] || "hermes-test-mode-passcode"
        c.bcrypt_cost ||= 4 # the cheapest bcrypt: tests mint many tokens
      end
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

    # A browser of +user_id+ connected to +room_id+, as far as Hermes.presence can tell.
    def connect(user_id:, room_id:)
      @connections = (@connections || 0) + 1
      Hermes.client.memory_connect("test-connection-#{@connections}", user_id: user_id, room_id: room_id)
    end

    def clear
      Hermes.client.drain_queue
      Hermes.client.memory_clear_connections
      @seen = []
      @disconnects = []
    end

    def take
      list = notifications
      @seen = []
      list
    end

    def drain
      @seen ||= []
      @disconnects ||= []
      Hermes.client.drain_queue.each do |record|
        if record["hermes"] == "disconnect"
          @disconnects << record.fetch("target").merge("reason" => record["reason"])
        elsif !record.key?("hermes")
          @seen << record
        end
      end
    end
  end

  module RSpecMatchers
    # Passes when the block enqueues a notification to +room_id+ whose data includes +data+
    # (a Hash is matched as a subset, deep; anything else by ==).
    class HaveEnqueuedNotification
      def initialize(room_id:, data: nil)
        @room_id = room_id.to_s
        @data = data
        @count = nil
        @to = nil
      end

      def to(user_id)
        @to = user_id.to_s
        self
      end

      def exactly(count)
        @count = count
        self
      end

      def once = exactly(1)
      def twice = exactly(2)
      def times = self

      def supports_block_expectations? = true

      def matches?(block)
        Hermes::Testing.take
        block.call
        @all = Hermes::Testing.take
        @matching = @all.select { |n| match?(n) }
        @count ? @matching.size == @count : @matching.any?
      end

      def does_not_match?(block)
        !matches?(block)
      end

      def failure_message
        want = @count ? "exactly #{@count}" : "a"
        "expected #{want} notification to room #{@room_id.inspect}#{@to ? " for user #{@to}" : ""}" \
          "#{@data.nil? ? "" : " with data including #{@data.inspect}"}, found #{@matching.size}; " \
          "enqueued: #{@all.inspect}"
      end

      def failure_message_when_negated
        "expected no notification to room #{@room_id.inspect} matching, found #{@matching.inspect}"
      end

      private

      def match?(n)
        n["room_id"] == @room_id && (@to.nil? || n["target_user_id"] == @to) && (@data.nil? || subset?(@data, n["data"]))
      end

      def subset?(want, got)
        case want
        when Hash
          got.is_a?(Hash) && want.all? { |k, v| got.key?(k.to_s) && subset?(v, got[k.to_s]) }
        when Array
          got.is_a?(Array) && want.size == got.size && want.zip(got).all? { |w, g| subset?(w, g) }
        when Symbol
          got == want.to_s
        else
          got == want
        end
      end
    end

    def have_enqueued_notification(room_id:, data: nil)
      HaveEnqueuedNotification.new(room_id: room_id, data: data)
    end
  end
end

if defined?(RSpec) && RSpec.respond_to?(:configure)
  RSpec.configure do |config|
    config.include Hermes::RSpecMatchers
    config.before(:suite) { Hermes::Testing.enable! }
    config.before { Hermes::Testing.clear }
  end
end
