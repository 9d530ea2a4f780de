# frozen_string_literal: true

module Hermes
  # The seed's API, under the name its views call: Notification::NotificationAuthorizer.
  # Every method delegates to the process-wide Hermes client.
  module NotificationAuthorizer
    module_function

    def generate_token(user_id:, company_code:)
      Hermes.client.generate_token(user_id: user_id, company_code: company_code)
    end

    def check_token(user_id:, company_code:)
      Hermes.client.generate_token(user_id: user_id, company_code: company_code)
    end

    def compose_token(user_id:, company_code:)
      Hermes.client.compose_token(user_id: user_id, company_code: company_code)
    end

    def revoke_token(user_id:, company_code:)
      Hermes.client.revoke_token(user_id: user_id, company_code: company_code)
    end

    def enqueue_notification(user_id:, room_id:, data:, to_user_id: nil)
      Hermes.client.enqueue_notification(user_id: user_id, room_id: room_id, data: data, to_user_id: to_user_id)
    end

    def enqueue_notifications(notifications)
      Hermes.client.enqueue_notifications(notifications)
    end
  end

  # Makes Notification::NotificationAuthorizer resolve, whatever Notification already is:
  # an app's model class or module gets the constant nested in it; with no Notification at
  # all, a module is created. const_get goes through the app's autoloader (Zeitwerk or the
  # classic one), so a model that has not been loaded yet is loaded, never shadowed.
  def self.install_notification_authorizer!(namespace = Object)
    holder = begin
      namespace.const_get(:Notification)
    rescue NameError => e
      raise unless e.name == :Notification && e.receiver == namespace

      namespace.const_set(:Notification, Module.new)
    end
    unless holder.is_a?(Module)
      raise Error, "Notification is a #{holder.class}, not a class or module: cannot nest NotificationAuthorizer in it"
    end

    holder.const_set(:NotificationAuthorizer, NotificationAuthorizer) unless holder.const_defined?(:NotificationAuthorizer, false)
    holder
  end
end
