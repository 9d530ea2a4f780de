# frozen_string_literal: true

require "rails/generators"

module Hermes
  module Generators
    # rails g hermes:install: the initializer (where the app names the page's user and
    # company, and gives Turbo Hermes's key for signed stream names), the connect tag in the
    # layout, the token refresh endpoint in the routes, the importmap pins when the app uses
    # importmap, and the next steps. Running it again adds only what is missing.
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Sets Hermes up: config/initializers/hermes.rb, the connect tag in the layout, " \
           "the token endpoint route, the importmap pins."

      class_option :layout, type: :string, default: "app/views/layouts/application.html.erb"

      TURBO_KEY = <<~RUBY

        # Turbo Streams (turbo-rails): turbo_stream_from signs its stream names with Hermes's key,
        # the one the gateway checks them with. turbo-rails reads this setting once the
        # initializers have run (once: after a key rotation, restart the app before the previous
        # key is removed). Where Hermes has no key (no JWT secret or secret_id outside the local
        # backend: tests without one, an image build's assets:precompile), Turbo keeps its own.
        if Rails.application.config.respond_to?(:turbo) &&
           (Hermes.config.backend_name == "local" || Hermes.config[:jwt_secret] || Hermes.config[:secret_id])
          Rails.application.config.turbo.signed_stream_verifier_key = Hermes.turbo_signed_stream_verifier_key
        end
      RUBY

      # An initializer the app already has is the app's: kept as it is.
      def create_initializer
        template "initializer.rb", "config/initializers/hermes.rb", skip: true
      end

      # After Hermes.configure, where the backend is chosen; also into an initializer an earlier
      # version of the gem wrote.
      def give_turbo_the_stream_key
        path = "config/initializers/hermes.rb"
        return if File.read(File.join(destination_root, path)).include?("signed_stream_verifier_key")

        append_to_file path, TURBO_KEY
      end

      # After the import map when importmap-rails renders one (the tag imports "hermes" from
      # it); otherwise early in <head>, before the app's own scripts, so that they find
      # window.Hermes already defined.
      def add_connect_tag_to_layout
        layout = options[:layout]
        path = File.join(destination_root, layout)
        unless File.exist?(path)
          say_status :skip, "#{layout} not found: add <%= hermes_connect_tag %> to your layout's <head>", :yellow
          return
        end
        text = File.read(path)
        return if text.include?("hermes_connect_tag")

        lines = "    <%# Hermes: this page's WebSocket, for the user and company named in config/initializers/hermes.rb %>\n" \
                "    <%= hermes_connect_tag %>\n"
        anchor = [(/^.*javascript_importmap_tags.*\n/ if importmap?), /^.*csp_meta_tag.*\n/, /^.*csrf_meta_tags.*\n/]
                 .compact.find { |re| text.match?(re) }
        if anchor
          insert_into_file layout, lines, after: anchor
        else
          insert_into_file layout, lines, before: %r{^\s*</head>}
        end
      end

      def mount_token_endpoint
        routes = File.join(destination_root, "config/routes.rb")
        return unless File.exist?(routes)
        return if File.read(routes).include?("Hermes::Engine")

        route %(mount Hermes::Engine, at: "/hermes" # POST /hermes/token: a fresh token for a page whose token was refused)
      end

      # Every file of the browser client is its own entry (Hermes::ClientAsset::ENTRIES).
      def pin_browser_client
        return unless importmap?

        pinned = ClientAsset.pinned_in(File.read(File.join(destination_root, "config/importmap.rb")))
        pins = ClientAsset::ENTRIES.reject { |specifier, _| pinned.include?(specifier) }
                                   .map { |specifier, file| %(pin "#{specifier}", to: "#{file}"\n) }
        append_to_file "config/importmap.rb", pins.join unless pins.empty?
      end

      def show_next_steps
        say <<~TEXT

          Hermes is installed. Next:

          1. In config/initializers/hermes.rb, fill in the two expressions that say who a page is for:
               c.current_user_id       the signed-in user's id           (e.g. current_user&.id)
               c.current_company_code  the company (room) they belong to (e.g. current_user&.company&.code)

          2. Development: in another terminal, `bundle exec hermes-local` (it listens on
             http://127.0.0.1:3001). In development the initializer uses it (HERMES_BACKEND=local):
             no AWS and no secrets to set.

          3. Production: add to your credentials (bin/rails credentials:edit):

               hermes:
                 jwt_secret: #{SecureRandom.hex(32)}   # the stack secret's jwt_secret
                 passcode: #{SecureRandom.hex(16)}     # the stack secret's passcode
                 queue_url: https://sqs.<region>.amazonaws.com/<account>/hermes-messageQueue   # stack output QueueUrl
                 websocket_url: wss://<api-id>.execute-api.<region>.amazonaws.com             # stack output WebSocketUrl, without the stage
                 region: <region>

             (or HERMES_JWT_SECRET, HERMES_PASSCODE, HERMES_QUEUE_URL, HERMES_WEBSOCKET_URL, AWS_REGION).

          4. On a page, from any script:
               <script>window.Hermes.subscribe("info", (text) => alert(text));</script>

          5. From a job or a console:
               Hermes.enqueue_notification(user_id: user.id, room_id: company_code,
                                           data: { type: "info", data: "Backup finished" })

          6. Turbo Streams (turbo_stream_from, broadcasts_to) through Hermes: in config/cable.yml,
             `adapter: hermes` for development and production (keep `adapter: test` in test), and
             load @hotwired/turbo in the page instead of @hotwired/turbo-rails (whose JavaScript
             would define <turbo-cable-stream-source> first). config/initializers/hermes.rb gives
             Turbo Hermes's key for signed stream names.
        TEXT
      end

      private

      def importmap?
        File.exist?(File.join(destination_root, "config/importmap.rb"))
      end
    end
  end
end
