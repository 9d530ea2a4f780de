# frozen_string_literal: true

require "json"

module Hermes
  # Turns the +data:+ of a notification into JSON exactly as JSON.generate would, after
  # checking that it holds only what JSON can carry: Hash (String or Symbol keys), Array,
  # String (valid UTF-8, or convertible to it), Symbol (as a string), Integer, finite Float,
  # true, false, nil, nested at most MAX_DEPTH deep and without cycles. Anything else (a
  # Time, an ActiveRecord object, a BasicObject, ...) is an ArgumentError naming where it
  # was and what type it is, never its value (data can hold anything, a secret included).
  #
  # JSON.generate takes its fast path only for objects whose class is exactly Hash, Array or
  # String; a subclass (HashWithIndifferentAccess, an app's own) or an object with singleton
  # methods goes through its #to_json, which can write anything or raise. So the check builds a
  # plain copy as it goes (read with Hash's and Array's own methods) and that copy is what is
  # generated: what was checked is what is sent, and no #to_json of the caller's runs.
  module JSONData
    INT_RANGE = (-(2**63)..(2**64 - 1)).freeze
    # JSON.generate's own default limit; the Rust side parses with serde_json, whose
    # recursion limit (128) is above it.
    MAX_DEPTH = 100
    # A path in an error message is cut to this many characters (a deep path is long).
    MAX_PATH_CHARS = 200
    # A Hash key appears in a path when it looks like a field name (a key can be anything the
    # app put there, a token included); any other key is shown by its position.
    SHOWN_KEY = /\A[A-Za-z0-9_.-]{1,24}\z/
    ONLY = "only Hash, Array, String, Symbol, Integer, Float, true, false and nil can be sent"

    EACH_PAIR = ::Hash.instance_method(:each_pair)
    EACH = ::Array.instance_method(:each)
    private_constant :EACH_PAIR, :EACH

    module_function

    def generate(data)
      JSON.generate(plain(data, "data", 0, {}.compare_by_identity))
    rescue JSON::GeneratorError => e
      # Not reached for checked data; the generator's message could quote a value.
      raise ArgumentError, "data cannot be sent as JSON (#{e.class})"
    end

    # +value+ checked and copied into plain Hashes, Arrays and Strings. +parents+ holds the
    # Hashes and Arrays on the way down: meeting one again is a cycle. The recursion is bounded
    # by MAX_DEPTH, so it cannot overflow the stack.
    def plain(value, path, depth, parents)
      case value
      when ::Hash, ::Array then container(value, path, depth, parents)
      when ::String then text(value, path)
      when ::Symbol then value.name
      when true, false, nil then value
      when ::Integer
        raise ArgumentError, "#{cut(path)} is an Integer outside the 64-bit range JSON numbers keep" unless INT_RANGE.cover?(value)

        value
      when ::Float
        # NaN, Infinity or -Infinity: naming which shows nothing of the caller's data.
        raise ArgumentError, "#{cut(path)} is #{value}, which JSON cannot represent" unless value.finite?

        value
      else
        raise ArgumentError, "#{cut(path)} is #{describe(value)}; #{ONLY}"
      end
    end

    def container(value, path, depth, parents)
      raise ArgumentError, "#{cut(path)} is nested deeper than #{MAX_DEPTH} levels" if depth >= MAX_DEPTH
      if parents.key?(value)
        raise ArgumentError, "#{cut(path)} contains itself (#{cut(parents[value])}): a cycle cannot be sent as JSON"
      end

      parents[value] = path
      copy = ::Hash === value ? hash(value, path, depth, parents) : array(value, path, depth, parents)
      parents.delete(value)
      copy
    end

    def hash(value, path, depth, parents)
      copy = {}
      index = 0
      EACH_PAIR.bind_call(value) do |k, v|
        key = case k
              when ::String then text(k, "#{path} key")
              when ::Symbol then k
              else raise ArgumentError, "#{cut(path)} has a key that is #{describe(k)}; keys must be Strings or Symbols"
              end
        copy[key] = plain(v, "#{path}[#{shown_key(key, index)}]", depth + 1, parents)
        index += 1
      end
      copy
    end

    def array(value, path, depth, parents)
      copy = []
      EACH.bind_call(value) { |v| copy << plain(v, "#{path}[#{copy.size}]", depth + 1, parents) }
      copy
    end

    # A plain String with the same bytes and encoding (no subclass, no singleton methods).
    def text(s, path)
      valid = s.encoding == Encoding::UTF_8 ? s.valid_encoding? : convertible?(s)
      raise ArgumentError, "#{cut(path)} is a String that is not valid #{s.encoding} text convertible to UTF-8" unless valid

      ::String.new(s)
    end

    def convertible?(s)
      s.encode(Encoding::UTF_8)
      true
    rescue EncodingError
      false
    end

    def shown_key(key, index)
      name = key.is_a?(::Symbol) ? key.name : key
      return "key ##{index}" unless name.match?(SHOWN_KEY)

      key.is_a?(::Symbol) ? ":#{name}" : name.inspect
    end

    # "a Time", or for a BasicObject, which has neither #class nor #inspect, "a Foo (a
    # BasicObject, not an Object)".
    def describe(value)
      return TypeName.with_article(value) if ::Kernel === value # rubocop:disable Style/CaseEquality

      "#{TypeName.with_article(value)} (a BasicObject, not an Object)"
    end

    def cut(path)
      path.length > MAX_PATH_CHARS ? "#{path[0, MAX_PATH_CHARS]}..." : path
    end
  end
end
