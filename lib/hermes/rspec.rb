# frozen_string_literal: true

require "hermes/testing"

module Hermes
  # `require "hermes/rspec"` in spec/rails_helper.rb: every example runs in test mode
  # (Hermes::Testing: the memory backend, nothing left queued from the example before) and can
  # assert on what was enqueued:
  #
  #   expect { job.perform_now }.to have_enqueued_notification(room_id: "ACME", data: { type: "info" })
  #   expect { ... }.to have_enqueued_notification(room_id: "ACME").to(42).exactly(2).times
  #   expect { board.cards.create!(title: "x") }.to have_enqueued_broadcast(stream: board, data: /turbo-stream action="append"/)
  module RSpecMatchers
    # What both matchers share: run the block, take what it queued, count what matches.
    class Enqueued
      def initialize(data)
        @data = data
        @count = nil
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
        take
        block.call
        @all = take
        @matching = @all.select { |n| match?(n) }
        @count ? @matching.size == @count : @matching.any?
      end

      def does_not_match?(block)
        !matches?(block)
      end

      private

      def wanted
        @count ? "exactly #{@count}" : "a"
      end

      def with_data
        @data.nil? ? "" : " with data #{@data.is_a?(Regexp) ? "matching" : "including"} #{@data.inspect}"
      end

      def data_matches?(got)
        @data.nil? || subset?(@data, got)
      end

      # A Hash is matched as a subset, deep; a Regexp matches a String; anything else by ==.
      def subset?(want, got)
        case want
        when Hash
          got.is_a?(Hash) && want.all? { |k, v| got.key?(k.to_s) && subset?(v, got[k.to_s]) }
        when Array
          got.is_a?(Array) && want.size == got.size && want.zip(got).all? { |w, g| subset?(w, g) }
        when Regexp
          got.is_a?(String) && want.match?(got)
        when Symbol
          got == want.to_s
        else
          got == want
        end
      end
    end

    # Passes when the block enqueues a notification to +room_id+ whose data matches +data+.
    class HaveEnqueuedNotification < Enqueued
      def initialize(room_id:, data: nil)
        super(data)
        @room_id = room_id.to_s
        @to = nil
      end

      def to(user_id)
        @to = user_id.to_s
        self
      end

      def failure_message
        "expected #{wanted} notification to room #{@room_id.inspect}#{@to ? " for user #{@to}" : ""}#{with_data}, " \
          "found #{@matching.size}; enqueued: #{@all.inspect}"
      end

      def failure_message_when_negated
        "expected no notification to room #{@room_id.inspect} matching, found #{@matching.inspect}"
      end

      private

      def take = Hermes::Testing.take

      def match?(n)
        n["room_id"] == @room_id && (@to.nil? || n["target_user_id"] == @to) && data_matches?(n["data"])
      end
    end

    # Passes when the block broadcasts to +stream+ (a name, or streamables as turbo_stream_from
    # takes them) data matching +data+: Hermes.broadcast, or Action Cable's broadcasts
    # (turbo-rails' broadcast_*_to) when config/cable.yml says `adapter: hermes`.
    class HaveEnqueuedBroadcast < Enqueued
      def initialize(stream:, data: nil)
        super(data)
        @stream = Hermes::Streams.name(stream)
      end

      def failure_message
        "expected #{wanted} broadcast to stream #{@stream.inspect}#{with_data}, found #{@matching.size}; " \
          "broadcast: #{@all.inspect}"
      end

      def failure_message_when_negated
        "expected no broadcast to stream #{@stream.inspect} matching, found #{@matching.inspect}"
      end

      private

      def take = Hermes::Testing.take_broadcasts

      def match?(b)
        b["stream"] == @stream && data_matches?(b["data"])
      end
    end

    def have_enqueued_notification(room_id:, data: nil)
      HaveEnqueuedNotification.new(room_id: room_id, data: data)
    end

    def have_enqueued_broadcast(stream:, data: nil)
      HaveEnqueuedBroadcast.new(stream: stream, data: data)
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
