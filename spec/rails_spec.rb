# frozen_string_literal: true

require "spec_helper"
require "open3"
require "jwt"

RSpec.describe "in a Rails application" do
  def boot(variant, autoloader: "zeitwerk")
    env = { "HERMES_SPEC_VARIANT" => variant, "HERMES_SPEC_AUTOLOADER" => autoloader, "HERMES_BACKEND" => nil, "HERMES_JWT_SECRET" => nil, "HERMES_PASSCODE" => nil }
    out, status = Open3.capture2e(env, RbConfig.ruby, File.join(__dir__, "fixtures/rails_app/boot.rb"))
    expect(status).to be_success, out
    JSON.parse(out.lines.last)
  end

  context "with its own Notification model" do
    subject(:app) { boot("model") }

    it "keeps the model and nests NotificationAuthorizer in it" do
      expect(app["autoloader"]).to eq("zeitwerk")
      expect(app["notification_class"]).to eq("Class")
      expect(app["model_kept"]).to be(true)
    end

    it "does the same under the classic autoloader" do
      classic = boot("model", autoloader: "classic")
      expect(classic["autoloader"]).to eq("classic")
      expect(classic["model_kept"]).to be(true)
    end

    it "configures Hermes from credentials.hermes" do
      expect(app["config_passcode_from_credentials"]).to be(true)
      claims, = JWT.decode(app["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims).to include("user_id" => 42, "room_id" => "ACME")
      expect(app["stage"]).to eq("development")
    end

    it "renders the connect tag with one helper call" do
      html = app["html"]
      expect(html).to start_with('<script type="module">')
      expect(html).to include('import { connect } from "hermes";')
      args = JSON.parse(html[/connect\((\{.*\})\);/, 1])
      expect(args["url"]).to eq("wss://abc123.execute-api.eu-west-1.amazonaws.com")
      expect(args["stage"]).to eq("development")
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims["room_id"]).to eq("ACME")
    end

    it "installs with rails g hermes:install, once" do
      g = app["generator"]
      expect(g["initializer"]).to include("Hermes.configure do |c|")
      expect(g["layout"].scan("hermes_connect_tag").size).to eq(1)
      expect(g["layout"]).to match(/hermes_connect_tag.*\n\s*<\/head>/)
      expect(g["importmap"].scan('pin "hermes", to: "hermes.js"').size).to eq(1)
      expect(g["printed"]).to include("hermes:", "jwt_secret:", "passcode:", "queue_url:")
    end
  end

  context "without a Notification constant" do
    it "defines Notification as a module holding NotificationAuthorizer" do
      app = boot("none")
      expect(app["notification_class"]).to eq("Module")
      expect(app["token"].count(".")).to eq(2)
    end
  end
end
