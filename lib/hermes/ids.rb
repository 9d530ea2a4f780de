# frozen_string_literal: true

module Hermes
  # The ids of a call (user_id, company_code / room_id, to_user_id): hermes-core's checks and
  # limits, through the extension, so the local backend refuses, before anything goes to
  # hermes-local, exactly what the aws and memory backends refuse, with the same message.
  module Ids
    # The longest id, in bytes: DynamoDB's limit for the tokens table's sort key, and short
    # enough for a token to fit in API Gateway's WebSocket URL.
    MAX_ID_BYTES = Native::MAX_ID_BYTES
    # The longest token minted: API Gateway's 4,096-character WebSocket URL, less room for the
    # endpoint and stage.
    MAX_TOKEN_CHARS = Native::MAX_TOKEN_CHARS

    module_function

    # +value+ as it is sent: an Integer stays an Integer (a JSON number in the token, as the
    # seed wrote it), text becomes UTF-8. An ArgumentError naming +name+ otherwise.
    def user(value, name = "user_id")
      Native.user_id(value, name)
    end

    # A room id (or company code) as UTF-8 text; an Integer or Symbol is taken as its text.
    def room(value, name)
      Native.room_id(value, name)
    end
  end
end
