# frozen_string_literal: true

# Mounted by the app (`mount Hermes::Engine, at: "/hermes"`, added by `rails g hermes:install`).
Hermes::Engine.routes.draw do
  post "token", to: "hermes/tokens#create", as: :token
end
