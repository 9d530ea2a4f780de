# frozen_string_literal: true

# Outside Rails, `require "notification/notification_authorizer"` gives the seed's name.
# (In Rails the Railtie does this once the app's own constants can be autoloaded.)
require "hermes"
Hermes.install_notification_authorizer!
