# frozen_string_literal: true

# Hermes reads credentials.hermes (jwt_secret, passcode, queue_url, websocket_url, region, ...)
# and then the HERMES_* environment variables. Override anything here.
Hermes.configure do |c|
  # Development without AWS: run hermes-local (script/run in the hermes repository).
  c.backend = "local" if Rails.env.development? && ENV["HERMES_BACKEND"].nil?
  # c.token_ttl = 3600
  # c.bcrypt_cost = 10
end
