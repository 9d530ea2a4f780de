# frozen_string_literal: true

require "spec_helper"
require "open3"
require "jwt"

RSpec.describe "in a Rails application" do
  # One boot per variant for the whole file: the examples only read what it observed.
  BOOTS = {} # rubocop:disable Lint/ConstantDefinitionInBlock

  def boot(variant, autoloader: "zeitwerk", pipeline: true)
    BOOTS[[variant, autoloader, pipeline]] ||= boot!(variant, autoloader, pipeline)
  end

  def boot!(variant, autoloader, pipeline)
    env = { "HERMES_SPEC_VARIANT" => variant, "HERMES_SPEC_AUTOLOADER" => autoloader, "HERMES_BACKEND" => nil,
            "HERMES_JWT_SECRET" => nil, "HERMES_PASSCODE" => nil, "HERMES_SPEC_PIPELINE" => pipeline ? nil : "none" }
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
      expect(mod).to start_with('import { start, tokenEndpoint } from "hermes";')
      args = connect_args(app["html"])
      expect(args["url"]).to eq("wss://abc123.execute-api.eu-west-1.amazonaws.com")
      expect(args["stage"]).to eq("development")
      # Who the client is for (start() keeps a live client only for the same user) and where
      # the room's history stood: the memory backend's room has had no message yet.
      expect(args).to include("user_id" => 42, "room_id" => "ACME", "position" => { "seq" => 0, "epoch" => nil })
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims["room_id"]).to eq("ACME")
    end

    it "serves the browser client through Sprockets, precompiled in production" do
      expect(app["asset"]).to include("status" => 200, "type" => "application/javascript", "has_start" => true)
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
      # Signed out: no token, and a script closing a client a Turbo visit left open.
      anonymous = scripts(app["anonymous_page"])
      expect(anonymous.map(&:first)).to eq(["", ' type="importmap"', ""])
      expect(anonymous.last.last).to eq("window.Hermes.close();")
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
      expect(args["position"]).to be_nil
      expect(args["refresh"]["url"]).to eq("/hermes/token")
      expect(down["log"].size).to eq(1)
      expect(down["log"].first).to include("[hermes] no live notifications for this page: Hermes::LocalBackendError: " \
                                           "cannot reach hermes-local at http://127.0.0.1:9")
      expect(app["down_raises"]).to start_with("Hermes::LocalBackendError: cannot reach hermes-local")
    end

    it "renders the page without the room's position when it cannot be read, logging one line" do
      r = app["no_position"]
      expect(r["status"]).to eq(200)
      args = connect_args(r["body"])
      expect(args["token"]).to match(/\A[\w-]+\.[\w-]+\.[\w-]+\z/)
      expect(args["position"]).to be_nil
      expect(r["log"].size).to eq(1)
      expect(r["log"].first).to include("[hermes] the page may miss what is sent before its socket opens: " \
                                        "Hermes::StoreError: DynamoDB GetItem on table hermesHistory failed")
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

  context "without an asset pipeline (rails new --skip-sprockets, or --api)" do
    subject(:app) { boot("none", pipeline: false) }

    it "serves the browser client from the mounted engine and points the import map there" do
      expect(app["page"]["status"]).to eq(200)
      asset = app["asset"]
      expect(asset["path"]).to match(%r{\A/hermes/hermes-\h{16}\.js\z})
      expect(asset).to include("status" => 200, "type" => "text/javascript; charset=utf-8", "has_start" => true,
                               "cache" => "public, max-age=31536000, immutable", "signed_out_fetch" => 200)
      expect(asset["etag"]).to eq(%("#{asset["path"][/\h{16}/]}"))
      expect(asset).to include("revalidated" => 304, "revalidated_body" => "")
      # The plain name, and a digest from before a deploy: served, but revalidated each time.
      expect(asset["plain"]).to include("status" => 200, "cache" => "no-cache", "same" => true)
      expect(asset["stale"]).to include("status" => 200, "cache" => "no-cache")
      expect(app["precompile_has_client"]).to be(false)
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
