# frozen_string_literal: true

module Hermes
  # The calls a Rails app makes, on the process-wide client built from Hermes.config. Both
  # Hermes and the seed's Notification::NotificationAuthorizer answer them (see Hermes::Client
  # for what each does).
  module API
    def generate_token(user_id:, company_code:)
      Hermes.client.generate_token(user_id: user_id, company_code: company_code)
    end

    # The seed's view calls this name.
    alias check_token generate_token

    def compose_token(user_id:, company_code:)
      Hermes.client.compose_token(user_id: user_id, company_code: company_code)
    end

    def revoke_token(user_id:, company_code:)
      Hermes.client.revoke_token(user_id: user_id, company_code: company_code)
    end

    def disconnect(user_id:, room_id:)
      Hermes.client.disconnect(user_id: user_id, room_id: room_id)
    end

    # presence(room_id:) or presence(stream:).
    def presence(**room_id_or_stream)
      Hermes.client.presence(**room_id_or_stream)
    end

    def position(room_id:)
      Hermes.client.position(room_id: room_id)
    end

    def enqueue_notification(user_id:, room_id:, data:, to_user_id: nil)
      Hermes.client.enqueue_notification(user_id: user_id, room_id: room_id, data: data, to_user_id: to_user_id)
    end

    def enqueue_notifications(notifications)
      Hermes.client.enqueue_notifications(notifications)
    end

    def broadcast(stream:, data:)
      Hermes.client.broadcast(stream: stream, data: data)
    end

    def broadcast_many(broadcasts)
      Hermes.client.broadcast_many(broadcasts)
    end

    # What a page subscribes to +stream+ with (a name, or streamables as turbo_stream_from
    # takes them): signed as turbo-rails signs turbo_stream_from's names, with the key below.
    def signed_stream_name(stream)
      Streams.signed_name(Hermes.config, stream)
    end

    # The key the gateway checks signed stream names with: for
    # `config.turbo.signed_stream_verifier_key`, so that turbo_stream_from's names verify.
    # Derived from the JWT secret (on the local backend: the development key hermes-local uses).
    def turbo_signed_stream_verifier_key
      Streams.key(Hermes.config)
    end
  end
end
