# frozen_string_literal: true

require "hermes/testing"

module Hermes
  # `require "hermes/rspec"` in spec/rails_helper.rb: every example runs in test mode
  # (Hermes::Testing: the memory backend, nothing left queued from the example before) and can
  # assert on what was enqueued:
  #
  #   expect { job.perform_now }.to have_enqueued_notification(room_id: "ACME", data: { type: "info" })
  #   expect { ... }.to have_enqueued_notification(room_id: "ACME").to(42).exactly(2).times
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
