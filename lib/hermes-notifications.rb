# frozen_string_literal: true

# Bundler requires a gem by its name: `gem "hermes-notifications"` in a Gemfile loads this
# file, and with it Hermes (and its Railtie, view helper and generator in a Rails app).
require_relative "hermes"
