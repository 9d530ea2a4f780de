# frozen_string_literal: true

require "spec_helper"
require "open3"
require "jwt"

RSpec.describe "in a Rails application" do
  # One boot per variant for the whole file: the examples only read what it observed.
  BOOTS = {} # rubocop:disable Lint/ConstantDefinitionInBlock

  def boot(variant, autoloader: "zeitwerk")
    BOOTS[[variant, autoloader]] ||= boot!(variant, autoloader)
  end

  def boot!(variant, autoloader)
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

    def scripts(html)
      html.scan(%r{<script([^>]*)>(.*?)</script>}m)
    end

    def connect_args(html)
      JSON.parse(html[/const o = (\{.*\});/, 1])
    end

    it "renders the stub, the import map and the connect module with one helper call" do
      (stub_attrs, stub), (map_attrs, map), (mod_attrs, mod) = scripts(app["html"])
      expect(stub_attrs).to eq("")
      expect(stub).to start_with("(function (w) {").and include("w.Hermes = {", "__hermesInstall")
      expect(stub).not_to include("//")
      expect(map_attrs).to eq(' type="importmap"')
      expect(JSON.parse(map)).to eq("imports" => { "hermes" => app["asset"]["path"] })
      expect(app["asset"]["path"]).to match(%r{\A/assets/hermes-\h+\.js\z})
      expect(mod_attrs).to eq(' type="module"')
      expect(mod).to start_with('import { connect, install, tokenEndpoint } from "hermes";')
      args = connect_args(app["html"])
      expect(args["url"]).to eq("wss://abc123.execute-api.eu-west-1.amazonaws.com")
      expect(args["stage"]).to eq("development")
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims["room_id"]).to eq("ACME")
    end

    it "serves the browser client through Sprockets, precompiled in production" do
      expect(app["asset"]).to include("status" => 200, "type" => "application/javascript", "has_install" => true)
      expect(app["precompile_has_client"]).to be(true)
    end

    it "leaves the import map to importmap-rails when config/importmap.rb pins hermes" do
      expect(scripts(app["pinned_html"]).map(&:first)).to eq(["", ' type="module"'])
    end

    it "mints for the user the initializer names, with a refresh endpoint, and nothing when signed out" do
      expect(app["page"]["status"]).to eq(200)
      args = connect_args(app["page"]["body"])
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims).to include("user_id" => 42, "room_id" => "ACME")
      expect(args["refresh"]["url"]).to eq("/hermes/token")
      expect(args["refresh"]["csrf"]).to match(/\S{20,}/)
      expect(scripts(app["anonymous_page"]).map(&:first)).to eq(["", ' type="importmap"'])
    end

    it "refreshes a token only for a signed-in user, same-origin, with the CSRF token, uncached" do
      r = app["refresh"]
      expect(r["ok"]).to include("status" => 200, "cache" => "no-store")
      claims, = JWT.decode(JSON.parse(r["ok"]["body"])["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims).to include("user_id" => 42, "room_id" => "ACME")
      expect(r["no_csrf"]["status"]).to eq(422)
      expect(r["other_origin"]).to include("status" => 403)
      expect(r["cross_site"]).to include("status" => 403)
      expect(r["signed_out"]).to include("status" => 401, "body" => '{"error":"not signed in"}')
      expect(r["get"]).to eq(404)
    end

    it "renders the page without a token when the backend is unreachable, logging one line" do
      down = app["down"]
      expect(down["status"]).to eq(200)
      args = connect_args(down["body"])
      expect(args["token"]).to be_nil
      expect(args["refresh"]["url"]).to eq("/hermes/token")
      expect(down["log"].size).to eq(1)
      expect(down["log"].first).to include("[hermes] no live notifications for this page: Hermes::LocalBackendError: " \
                                           "cannot reach hermes-local at http://127.0.0.1:9")
      expect(app["down_raises"]).to start_with("Hermes::LocalBackendError: cannot reach hermes-local")
    end

    it "installs with rails g hermes:install into a Rails 6.1 layout (no importmap), once" do
      g = app["generator"]
      expect(g["initializer"]).to include("Hermes.configure do |c|", "c.current_user_id = -> { nil }", "c.current_company_code = -> { nil }")
      expect(g["initializer"]).not_to match(/^\s*[^#\s].*(current_user\b|user_signed_in\?)/)
      expect(g["layout"].scan("hermes_connect_tag").size).to eq(1)
      # Before the app's own scripts, right after the meta tags.
      expect(g["layout"]).to match(/csp_meta_tag %>\n.*config\/initializers\/hermes.rb %>\n\s*<%= hermes_connect_tag %>\n\n\s*<%= stylesheet_link_tag/)
      expect(g["routes"].scan("mount Hermes::Engine, at: \"/hermes\"").size).to eq(1)
      expect(g["importmap"]).to be_nil
      expect(g["printed"]).to include("hermes:", "jwt_secret:", "passcode:", "queue_url:", "c.current_user_id", "c.current_company_code",
                                      "hermes-local", 'window.Hermes.subscribe("info"', "Hermes.enqueue_notification")
    end

    it "installs into a layout with importmap: after the import map, and pinned once" do
      g = app["generator_importmap"]
      expect(g["layout"]).to match(/javascript_importmap_tags %>\n.*\n\s*<%= hermes_connect_tag %>\n\s*<\/head>/)
      expect(g["importmap"].scan('pin "hermes", to: "hermes.js"').size).to eq(1)
      expect(app["generator_bare"]["layout"]).to match(/<%= hermes_connect_tag %>\n\s*<\/head>/)
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
