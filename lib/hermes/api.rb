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

    def presence(room_id:)
      Hermes.client.presence(room_id: room_id)
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
  end
end
