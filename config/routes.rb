# frozen_string_literal: true

# Mounted by the app (`mount Hermes::Engine, at: "/hermes"`, added by `rails g hermes:install`).
Hermes::Engine.routes.draw do
  post "token", to: "hermes/tokens#create", as: :token
  # The browser client's files, for apps without an asset pipeline (Hermes::BrowserClient).
  Hermes::BrowserClient::ALL.each_value do |client|
    get client.digested_route, to: client, as: client.route_name, format: false, constraints: { digest: /[0-9a-f]{16}/ }
    get client.file, to: client, format: false
  end
end
