# frozen_string_literal: true

module Hermes
  # The ids of a call (user_id, company_code / room_id, to_user_id), checked before they are
  # sent anywhere, with the messages of the native extension's own checks, so the local
  # backend refuses exactly what the aws and memory backends refuse.
  module Ids
    # hermes-core's MAX_ID_BYTES: DynamoDB's limit for the tokens table's sort key, and short
    # enough for the token to fit in API Gateway's 4,096-character WebSocket URL.
    MAX_BYTES = 1024
    INT64 = (-(2**63)..(2**63 - 1)).freeze

    module_function

    # An Integer stays an Integer (a JSON number in the token, as the seed wrote it).
    def user(value, name = "user_id")
      case value
      when Integer
        raise ArgumentError, "#{name} is out of the 64-bit range" unless INT64.cover?(value)

        value
      when String then text(value, name)
      else raise ArgumentError, "#{name} must be an Integer or a String, got #{class_of(value)}"
      end
    end

    # Room ids are strings; an Integer or Symbol is taken as its text.
    def room(value, name)
      case value
      when String then text(value, name)
      when Integer, Symbol then text(value.to_s, name)
      else raise ArgumentError, "#{name} must be a String, got #{class_of(value)}"
      end
    end

    def text(value, name)
      utf8 = begin
        value.encode(Encoding::UTF_8)
      rescue EncodingError
        nil
      end
      if utf8.nil? || !utf8.valid_encoding?
        raise ArgumentError, "#{name} is not valid text in its encoding (or not convertible to UTF-8)"
      end
      raise ArgumentError, "#{name} must not be empty" if utf8.empty?
      raise ArgumentError, "#{name} is #{utf8.bytesize} bytes; at most #{MAX_BYTES}" if utf8.bytesize > MAX_BYTES

      utf8
    end

    def class_of(value)
      ::Kernel === value ? value.class : "BasicObject" # rubocop:disable Style/CaseEquality
    end
  end
end
