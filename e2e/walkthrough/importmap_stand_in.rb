# frozen_string_literal: true

# What importmap-rails' engine does to the asset pipeline (see importmap_stand_in_helper.rb).
Rails.application.config.assets.paths << Rails.root.join("app/javascript")
Rails.application.config.assets.precompile += %w[application.js]
