# frozen_string_literal: true

require_relative "api"

module Hermes
  # The seed's API, under the name its views call: Notification::NotificationAuthorizer.
  module NotificationAuthorizer
    extend API
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
