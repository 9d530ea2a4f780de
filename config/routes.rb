# frozen_string_literal: true

# Mounted by the app (`mount Hermes::Engine, at: "/hermes"`, added by `rails g hermes:install`).
Hermes::Engine.routes.draw do
  post "token", to: "hermes/tokens#create", as: :token
  # The browser client, for apps without an asset pipeline (Hermes::BrowserClient).
  get "hermes-:digest.js", to: Hermes::BrowserClient, as: :client, format: false, constraints: { digest: /[0-9a-f]{16}/ }
  get "hermes.js", to: Hermes::BrowserClient, format: false
end
