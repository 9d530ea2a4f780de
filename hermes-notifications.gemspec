# frozen_string_literal: true

require_relative "lib/hermes/version"

Gem::Specification.new do |s|
  s.name = "hermes-notifications"
  s.version = Hermes::VERSION
  s.summary = "Real-time notifications from Rails to browsers over API Gateway WebSockets"
  s.description = "Mints the WebSocket tokens and queues the notifications of Hermes (API Gateway " \
                  "WebSockets, Lambda, DynamoDB, SQS) from Rails. Token hashing, JWTs and AWS calls run " \
                  "in the same Rust crate as the Lambdas, with the GVL released."
  s.authors = ["Hermes"]
  s.license = "MIT"
  s.required_ruby_version = ">= 3.0"
  s.extensions = ["ext/hermes/extconf.rb"]
  s.require_paths = ["lib"]
  # `hermes-local` (and `bundle exec hermes-local`): runs the local gateway the platform gem
  # ships in libexec/; in the source gem it says how to get one (exe/hermes-local).
  s.bindir = "exe"
  s.executables = ["hermes-local"]

  # The extension's crate and hermes-core, built alone at install time: not the workspace
  # manifest, not the Lambdas or the local gateway. The workspace's release profile goes as
  # ext/hermes/release-profile.toml. `rake native:gem` drops ext/, core/ and Cargo.lock from this
  # list and adds the compiled extension and hermes-local (see the Rakefile).
  s.files = Dir[
    "lib/**/*.rb", "lib/generators/**/*", "vendor/javascript/*.js", "app/**/*.rb", "config/routes.rb", "exe/*",
    "ext/hermes/*.rb", "ext/hermes/*.toml", "ext/hermes/src/**/*.rs",
    "core/Cargo.toml", "core/src/**/*.rs", "core/benches/*.rs",
    "Cargo.lock", "README.md",
  ].grep_v(/hermes_native\.[^\/.]+\z/)
  s.metadata["rubygems_mfa_required"] = "true"
end
