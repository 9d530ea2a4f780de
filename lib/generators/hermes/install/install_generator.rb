# frozen_string_literal: true

require "rails/generators"

module Hermes
  module Generators
    # rails g hermes:install: the initializer, the layout line, the importmap pin, and the
    # credentials to add.
    class InstallGenerator < ::Rails::Generators::Base
      source_root File.expand_path("templates", __dir__)
      desc "Sets Hermes up: config/initializers/hermes.rb, the connect tag in the layout, the importmap pin."

      class_option :layout, type: :string, default: "app/views/layouts/application.html.erb"

      def create_initializer
        template "initializer.rb", "config/initializers/hermes.rb"
      end

      def add_connect_tag_to_layout
        layout = options[:layout]
        unless File.exist?(File.join(destination_root, layout))
          say_status :skip, "#{layout} not found: add the connect tag to your layout yourself", :yellow
          return
        end
        line = "    <%= hermes_connect_tag(user_id: current_user.id, company_code: current_user.company_code) if user_signed_in? %>\n"
        return if File.read(File.join(destination_root, layout)).include?("hermes_connect_tag")

        insert_into_file layout, line, before: %r{^\s*</head>}
      end

      def pin_browser_client
        importmap = File.join(destination_root, "config/importmap.rb")
        return unless File.exist?(importmap)
        return if File.read(importmap).include?('pin "hermes"')

        append_to_file "config/importmap.rb", %(pin "hermes", to: "hermes.js"\n)
      end

      def show_credentials
        say <<~TEXT

          Add to your credentials (bin/rails credentials:edit):

            hermes:
              jwt_secret: #{SecureRandom.hex(32)}   # same value as the stack's secret jwt_secret
              passcode: #{SecureRandom.hex(16)}     # same value as the stack's secret passcode
              queue_url: https://sqs.<region>.amazonaws.com/<account>/hermes-messageQueue   # stack output QueueUrl
              websocket_url: wss://<api-id>.execute-api.<region>.amazonaws.com             # stack output, without the stage
              region: <region>

          In development, run hermes-local and set HERMES_BACKEND=local: no AWS needed.
        TEXT
      end
    end
  end
end
