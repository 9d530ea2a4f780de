# frozen_string_literal: true

require "json"

module Hermes
  # Turns the +data:+ of a notification into JSON exactly as JSON.generate would, after
  # checking that it holds only what JSON can carry: Hash (String or Symbol keys), Array,
  # String, Symbol (as a string), Integer, finite Float, true, false, nil. Anything else
  # (a Time, an ActiveRecord object, ...) is an ArgumentError naming where it was, instead of
  # whatever its #to_s happens to print.
  module JSONData
    INT_RANGE = (-(2**63)..(2**64 - 1)).freeze

    module_function

    def generate(data)
      check(data, "data")
      JSON.generate(data)
    rescue JSON::GeneratorError => e
      raise ArgumentError, "data cannot be sent as JSON: #{e.message}"
    end

    def check(value, path)
      case value
      when Hash
        value.each do |k, v|
          unless k.is_a?(String) || k.is_a?(Symbol)
            raise ArgumentError, "#{path} has a #{k.class} key #{k.inspect}; keys must be Strings or Symbols"
          end

          check(v, "#{path}[#{k.inspect}]")
        end
      when Array
        value.each_with_index { |v, i| check(v, "#{path}[#{i}]") }
      when String, Symbol, true, false, nil
        nil
      when Integer
        raise ArgumentError, "#{path} is #{value}, outside the 64-bit range JSON numbers keep" unless INT_RANGE.cover?(value)
      when Float
        raise ArgumentError, "#{path} is #{value}, which JSON cannot represent" unless value.finite?
      else
        raise ArgumentError, "#{path} is a #{value.class} (#{value.inspect[0, 60]}); " \
                             "only Hash, Array, String, Symbol, Integer, Float, true, false and nil can be sent"
      end
    end
  end
end
