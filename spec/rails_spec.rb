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
      # Every file of the client is an entry, "hermes" included.
      imports = JSON.parse(map)["imports"]
      expect(imports.keys).to eq(app["entries"].keys)
      expect(imports.keys.first).to eq("hermes")
      expect(imports["hermes"]).to eq(app["asset"]["path"])
      expect(app["asset"]["path"]).to match(%r{\A/assets/hermes-\h+\.js\z})
      expect(mod_attrs).to eq(' type="module"')
      expect(mod.lines.first(2)).to eq(["import { start, tokenEndpoint } from \"hermes\";\n",
                                        "import(\"hermes/turbo\").catch(() => {});\n"])
      args = connect_args(app["html"])
      expect(args["url"]).to eq("wss://abc123.execute-api.eu-west-1.amazonaws.com")
      expect(args["stage"]).to eq("development")
      # Who the client is for (start() keeps a live client only for the same user) and where
      # the room's history stood: the memory backend's room has had no message yet.
      expect(args).to include("user_id" => 42, "room_id" => "ACME", "position" => { "seq" => 0, "epoch" => nil })
      expect(args).not_to have_key("anonymous")
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims["room_id"]).to eq("ACME")
    end

    it "serves every file of the browser client through Sprockets, precompiled in production" do
      expect(app["asset"]).to include("status" => 200, "type" => "application/javascript", "has_start" => true)
      expect(app["served"].keys).to eq(app["entries"].keys)
      app["served"].each_value do |served|
        expect(served).to include("status" => 200, "type" => "application/javascript", "holds" => true)
        expect(served["path"]).to start_with("/assets/")
      end
      expect(app["precompile_has_client"]).to be(true)
    end

    it "gives Turbo the key derived from the credentials' secret, and refuses to guess it earlier" do
      expect(app["key"]).to eq(Hermes::Native.stream_key("credentials-secret-for-hs512-0123456789-abcdef"))
      expect(app["early_key"]).to start_with("Hermes::ConfigurationError: the key of signed stream names was asked for " \
                                             "before Rails loaded Hermes's settings")
      expect(app["early_key"]).to include("config/initializers/hermes.rb")
    end

    it "says once at boot which entries an earlier install's config/importmap.rb lacks" do
      old = app["old_pins"]
      expect(old["pins"]).to eq(["hermes"])
      missing = app["entries"].keys - ["hermes"]
      if missing.empty?
        expect(old["log"]).to eq([])
      else
        expect(old["log"].size).to eq(1)
        expect(old["log"].first).to include(%([hermes] config/importmap.rb pins "hermes" but not #{missing.map(&:inspect).join(", ")}),
                                            "bin/rails g hermes:install again")
      end
    end

    it "passes how long a hidden page keeps its socket: the tag's argument, else the setting, else the client's default" do
      expect(app["hidden"]).to eq(
        "default" => "absent", "seconds" => 90_000, "duration" => 120_000, "float" => 250, "never" => false,
        "negative" => "ArgumentError: close_hidden_after is a number of seconds (>= 0) or false, not a negative or infinite number",
        "text" => "ArgumentError: close_hidden_after is a number of seconds (>= 0) or false, not a String",
        "setting" => 30_000, "setting_overridden" => false, "setting_never" => false
      )
    end

    it "leaves the import map to importmap-rails when config/importmap.rb pins hermes" do
      expect(scripts(app["pinned_html"]).map(&:first)).to eq(["", ' type="module"'])
    end

    it "mints for the user the initializer names, with a refresh endpoint" do
      expect(app["page"]["status"]).to eq(200)
      args = connect_args(app["page"]["body"])
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims).to include("user_id" => 42, "room_id" => "ACME")
      expect(args["refresh"]["url"]).to eq("/hermes/token")
      expect(args["refresh"]["csrf"]).to match(/\S{20,}/)
    end

    it "starts a page where nobody is signed in with a streams token: no user, no room" do
      anonymous = scripts(app["anonymous_page"])
      expect(anonymous.map(&:first)).to eq(["", ' type="importmap"', ' type="module"'])
      expect(anonymous.last.last).to include('import("hermes/turbo").catch(() => {});')
      args = connect_args(app["anonymous_page"])
      expect(args.keys).to contain_exactly("url", "stage", "anonymous", "token", "refresh")
      expect(args).to include("anonymous" => true, "url" => "wss://abc123.execute-api.eu-west-1.amazonaws.com")
      claims, = JWT.decode(args["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims.keys).to contain_exactly("scope", "exp", "iat")
      expect(claims["scope"]).to eq("streams")
      expect(args["refresh"]["url"]).to eq("/hermes/token")
    end

    it "sends mint.hermes for the API, the connect tag and the token endpoint, saying which, never with a token" do
      expect(app["mints"]).to contain_exactly(["api", "room", "ACME"], ["connect_tag", "room", "ACME"], ["connect_tag", "streams", nil],
                                              ["token_endpoint", "room", "ACME"], ["token_endpoint", "streams", nil])
      tokens = [app["token"], connect_args(app["html"])["token"], connect_args(app["page"]["body"])["token"],
                connect_args(app["anonymous_page"])["token"], JSON.parse(app["refresh"]["ok"]["body"])["token"],
                JSON.parse(app["refresh"]["signed_out"]["body"])["token"]]
      expect(tokens).to all(match(/\A[\w-]+\.[\w-]+\.[\w-]+\z/))
      secrets = tokens + ["credentials-secret-for-hs512-0123456789-abcdef", "credentials-passcode"]
      expect(app["mint_values"].select { |v| secrets.any? { |s| v.include?(s) } }).to eq([])
    end

    it "refreshes a token only for a signed-in user, same-origin, with the CSRF token, uncached" do
      r = app["refresh"]
      expect(r["ok"]).to include("status" => 200, "cache" => "no-store")
      claims, = JWT.decode(JSON.parse(r["ok"]["body"])["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims).to include("user_id" => 42, "room_id" => "ACME")
      expect(r["no_csrf"]["status"]).to eq(422)
      expect(r["other_origin"]).to include("status" => 403)
      expect(r["cross_site"]).to include("status" => 403)
      # Signed out: a fresh streams token, as the page of nobody got.
      expect(r["signed_out"]).to include("status" => 200, "cache" => "no-store")
      body = JSON.parse(r["signed_out"]["body"])
      expect(body["anonymous"]).to be(true)
      claims, = JWT.decode(body["token"], "credentials-secret-for-hs512-0123456789-abcdef", true, algorithm: "HS512")
      expect(claims["scope"]).to eq("streams")
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

      anonymous = app["down_anonymous"]
      expect(anonymous["status"]).to eq(200)
      expect(connect_args(anonymous["body"])).to include("anonymous" => true, "token" => nil)
      expect(anonymous["log"].size).to eq(1)
      expect(anonymous["log"].first).to include("[hermes] no live streams for this page: Hermes::LocalBackendError")
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
                                      "hermes-local", 'window.Hermes.subscribe("info"', "Hermes.enqueue_notification",
                                      "config/cable.yml", "adapter: hermes", "adapter: test", "@hotwired/turbo-rails")
      # Turbo's key, after Hermes.configure (where development picks the local backend), once.
      init = g["initializer"]
      expect(init.scan("config.turbo.signed_stream_verifier_key = Hermes.turbo_signed_stream_verifier_key").size).to eq(1)
      expect(init.index("signed_stream_verifier_key")).to be > init.index("c.backend = \"local\"")
      expect(init).to include("if Rails.application.config.respond_to?(:turbo) &&")
    end

    it "installs into a layout with importmap: after the import map, every file pinned once" do
      g = app["generator_importmap"]
      expect(g["layout"]).to match(/javascript_importmap_tags %>\n.*\n\s*<%= hermes_connect_tag %>\n\s*<\/head>/)
      app["entries"].each do |specifier, file|
        expect(g["importmap"].scan(%(pin "#{specifier}", to: "#{file}")).size).to eq(1)
      end
      expect(app["generator_bare"]["layout"]).to match(/<%= hermes_connect_tag %>\n\s*<\/head>/)
    end

    it "completes an install made by an earlier version: the missing pins, Turbo's key, the app's own lines kept" do
      g = app["generator_upgrade"]
      expect(g["importmap"].scan(/^pin "hermes"/).size).to eq(1)
      app["entries"].each { |specifier, _| expect(g["importmap"].scan(/^pin "#{Regexp.escape(specifier)}"/).size).to eq(1) }
      expect(g["initializer"]).to start_with("Hermes.configure do |c|\n  c.current_user_id = -> { current_user&.id }\nend\n")
      expect(g["initializer"].scan("signed_stream_verifier_key = Hermes.turbo_signed_stream_verifier_key").size).to eq(1)
    end
  end

  context "without an asset pipeline (rails new --skip-sprockets, or --api)" do
    subject(:app) { boot("none", pipeline: false) }

    it "serves the browser client from the mounted engine and points the import map there" do
      expect(app["page"]["status"]).to eq(200)
      expect(app["served"].keys).to eq(app["entries"].keys)
      app["served"].each do |specifier, served|
        file = app["entries"][specifier]
        expect(served["path"]).to match(%r{\A/hermes/#{Regexp.escape(file.delete_suffix(".js"))}-\h{16}\.js\z})
        expect(served).to include("status" => 200, "type" => "text/javascript; charset=utf-8", "same" => true,
                                  "cache" => "public, max-age=31536000, immutable")
      end
      expect(app["plain_files"].values.uniq).to eq([200])
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
