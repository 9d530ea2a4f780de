# frozen_string_literal: true

# What importmap-rails' engine does to the asset pipeline (see importmap_stand_in_helper.rb):
# app/javascript and vendor/javascript (where `bin/importmap pin` downloads) are asset paths.
Rails.application.config.assets.paths << Rails.root.join("app/javascript") << Rails.root.join("vendor/javascript")
Rails.application.config.assets.precompile += %w[application.js @hotwired--turbo.js]
