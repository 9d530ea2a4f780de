# frozen_string_literal: true

require "json"

module Hermes
  # Turns the +data:+ of a notification into JSON exactly as JSON.generate would, after
  # checking that it holds only what JSON can carry: Hash (String or Symbol keys), Array,
  # String (valid UTF-8, or convertible to it), Symbol (as a string), Integer, finite Float,
  # true, false, nil, nested at most MAX_DEPTH deep and without cycles. Anything else (a
  # Time, an ActiveRecord object, a BasicObject, ...) is an ArgumentError naming where it
  # was, instead of whatever its #to_s happens to print or an error from deep inside JSON.
  module JSONData
    INT_RANGE = (-(2**63)..(2**64 - 1)).freeze
    # JSON.generate's own default limit; the Rust side parses with serde_json, whose
    # recursion limit (128) is above it.
    MAX_DEPTH = 100
    # A path in an error message is cut to this many characters (a deep path is long).
    MAX_PATH_CHARS = 200

    module_function

    def generate(data)
      check(data, "data", 0, {}.compare_by_identity)
      JSON.generate(data)
    rescue JSON::GeneratorError => e
      raise ArgumentError, "data cannot be sent as JSON: #{e.message}"
    end

    # +parents+ holds the Hashes and Arrays on the way down: meeting one again is a cycle.
    # The recursion is bounded by MAX_DEPTH, so it cannot overflow the stack.
    def check(value, path, depth, parents)
      case value
      when Hash, Array
        raise ArgumentError, "#{cut(path)} is nested deeper than #{MAX_DEPTH} levels" if depth >= MAX_DEPTH
        if parents.key?(value)
          raise ArgumentError, "#{cut(path)} contains itself (#{cut(parents[value])}): a cycle cannot be sent as JSON"
        end

        parents[value] = path
        if value.is_a?(Hash)
          check_hash(value, path, depth, parents)
        else
          value.each_with_index { |v, i| check(v, "#{path}[#{i}]", depth + 1, parents) }
        end
        parents.delete(value)
      when String
        check_string(value, path)
      when Symbol, true, false, nil
        nil
      when Integer
        raise ArgumentError, "#{cut(path)} is #{value}, outside the 64-bit range JSON numbers keep" unless INT_RANGE.cover?(value)
      when Float
        raise ArgumentError, "#{cut(path)} is #{value}, which JSON cannot represent" unless value.finite?
      else
        raise ArgumentError, "#{cut(path)} is #{describe(value)}; " \
                             "only Hash, Array, String, Symbol, Integer, Float, true, false and nil can be sent"
      end
    end

    def check_hash(hash, path, depth, parents)
      hash.each do |k, v|
        case k
        when String then check_string(k, "#{path} key")
        when Symbol then nil
        else
          raise ArgumentError, "#{cut(path)} has a key that is #{describe(k)}; keys must be Strings or Symbols"
        end
        check(v, "#{path}[#{k.inspect}]", depth + 1, parents)
      end
    end

    def check_string(s, path)
      return if s.encoding == Encoding::UTF_8 ? s.valid_encoding? : convertible?(s)

      raise ArgumentError, "#{cut(path)} is a String that is not valid #{s.encoding} text convertible to UTF-8"
    end

    def convertible?(s)
      s.encode(Encoding::UTF_8)
      true
    rescue EncodingError
      false
    end

    # What a value is, for a message: its class and the start of its inspect. A BasicObject
    # has neither #class nor #inspect, and an object's own #inspect may raise.
    def describe(value)
      unless ::Kernel === value # rubocop:disable Style/CaseEquality
        klass = (class << value; self; end).superclass
        return "#{article(klass)} #{klass} (a BasicObject, not an Object)"
      end

      shown = begin
        value.inspect.to_s[0, 60]
      rescue StandardError
        "its #inspect raised"
      end
      "#{article(value.class)} #{value.class} (#{shown})"
    end

    def article(klass)
      klass.to_s.match?(/\A[AEIOU]/) ? "an" : "a"
    end

    def cut(path)
      path.length > MAX_PATH_CHARS ? "#{path[0, MAX_PATH_CHARS]}..." : path
    end
  end
end
