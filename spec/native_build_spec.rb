# frozen_string_literal: true

require "spec_helper"
require_relative "../ext/hermes/native_build"

# The build helper shared by extconf.rb and the Rakefile. Only Linux runs here: the other
# platforms are checked through the values their Ruby's RbConfig holds (host_os, DLEXT).
RSpec.describe HermesBuild do
  describe ".names" do
    {
      "Linux (glibc)" => ["linux-gnu", "so", "libhermes_native.so", "hermes_native.so"],
      "Linux (musl)" => ["linux-musl", "so", "libhermes_native.so", "hermes_native.so"],
      "macOS on Apple silicon" => ["darwin23", "bundle", "libhermes_native.dylib", "hermes_native.bundle"],
      "macOS on Intel" => ["darwin22.6.0", "bundle", "libhermes_native.dylib", "hermes_native.bundle"],
      "Windows, RubyInstaller (UCRT)" => ["mingw32", "so", "hermes_native.dll", "hermes_native.so"],
      "Windows, MSVC" => ["mswin64_140", "so", "hermes_native.dll", "hermes_native.so"],
      "FreeBSD" => ["freebsd14.0", "so", "libhermes_native.so", "hermes_native.so"],
    }.each do |platform, (host_os, dlext, cargo_file, ruby_file)|
      it "on #{platform} (host_os #{host_os}) cargo writes #{cargo_file} and Ruby loads #{ruby_file}" do
        names = described_class.names(host_os: host_os, dlext: dlext)
        expect(names.cargo_file).to eq(cargo_file)
        expect(names.ruby_file).to eq(ruby_file)
      end
    end

    it "defaults to this Ruby's RbConfig, and names what `rake compile` built and lib/hermes.rb loaded" do
      names = described_class.names
      expect(names.ruby_file).to eq("hermes_native.#{RbConfig::CONFIG["DLEXT"]}")
      expect($LOADED_FEATURES.grep(/hermes_native/).map { |f| File.basename(f) }).to eq([names.ruby_file])
    end
  end

  describe ".local_binary" do
    it "is hermes-local with the platform's executable suffix (what cargo writes and exe/hermes-local runs)" do
      expect(described_class.local_binary(exeext: "")).to eq("hermes-local")
      expect(described_class.local_binary(exeext: ".exe")).to eq("hermes-local.exe")
      expect(described_class.local_binary).to eq("hermes-local#{RbConfig::CONFIG["EXEEXT"]}")
    end
  end

  describe ".abi_dir" do
    it "is the Ruby's major.minor version" do
      expect(described_class.abi_dir("3.1.2")).to eq("3.1")
      expect(described_class.abi_dir("3.4.0.preview2")).to eq("3.4")
      expect(described_class.abi_dir("10.12.1")).to eq("10.12")
      expect(described_class.abi_dir).to eq(RUBY_VERSION.split(".").first(2).join("."))
    end

    it "refuses what is not a version" do
      expect { described_class.abi_dir("ruby") }.to raise_error(ArgumentError, /not a Ruby version: "ruby"/)
    end
  end

  describe ".required_ruby_version" do
    def admits(abi_dirs)
      req = Gem::Requirement.new(described_class.required_ruby_version(abi_dirs))
      ->(version) { req.satisfied_by?(Gem::Version.new(version)) }
    end

    it "admits every patch release of the one Ruby a gem holds, not its neighbours or their previews" do
      expect(described_class.required_ruby_version(["3.1"])).to eq([">= 3.1", "< 3.2.dev"])
      ok = admits(["3.1"])
      expect(%w[3.1.0 3.1.2 3.1.99].map(&ok)).to all(be true)
      expect(%w[3.0.7 3.1.0.preview1 3.2.0.preview1 3.2.0.dev 3.2.0 4.0.0].map(&ok)).to all(be false)
    end

    it "spans the Rubies of a gem that holds several, in any order" do
      expect(described_class.required_ruby_version(%w[3.3 3.1 3.2 3.2])).to eq([">= 3.1", "< 3.4.dev"])
      ok = admits(%w[3.3 3.1 3.2])
      expect(%w[3.1.0 3.2.5 3.3.9].map(&ok)).to all(be true)
      expect(%w[3.0.9 3.4.0.preview1 3.4.0].map(&ok)).to all(be false)
    end

    it "refuses a set with a gap (a range would admit a Ruby the gem has no build for)" do
      expect { described_class.required_ruby_version(%w[3.1 3.3]) }
        .to raise_error(ArgumentError, /3\.1, 3\.3 leave a gap after 3\.1/)
    end

    it "refuses an empty set" do
      expect { described_class.required_ruby_version([]) }.to raise_error(ArgumentError, /at least one Ruby version/)
    end
  end

  describe ".platform_gem_files" do
    it "keeps what runs and drops what only compiling needs" do
      source = Gem::Specification.load(File.join(ROOT, "hermes-notifications.gemspec")).files
      kept = described_class.platform_gem_files(source)
      expect(kept).to include("lib/hermes.rb", "vendor/javascript/hermes.js", "README.md")
      expect(kept.grep(%r{\A(ext|core)/|Cargo\.|\.rs\z})).to be_empty
      expect(source - kept).to include("ext/hermes/extconf.rb", "core/src/lib.rs", "Cargo.lock")
    end
  end

  describe ".release_profile" do
    it "is what the source gem ships: the workspace Cargo.toml's profile, current (run `rake profile` if not)" do
      expect(File.read(described_class::PROFILE_FILE))
        .to eq(described_class.release_profile(File.read(File.join(ROOT, "Cargo.toml"))))
    end

    it "keeps the [profile.*] tables and their comments, and nothing of the other tables" do
      toml = <<~TOML
        [workspace]
        members = ["a"]

        [profile.release]
        # small
        opt-level = "s"
        lto = "fat"

        [[bench]]
        name = "x"

        [profile.release.package.hot]
        opt-level = 3
        [dependencies]
        serde = "1"
      TOML
      body = described_class.release_profile(toml).lines.drop_while { |l| l.start_with?("#") }.join
      expect(body).to eq(<<~TOML)
        [profile.release]
        # small
        opt-level = "s"
        lto = "fat"

        [profile.release.package.hot]
        opt-level = 3
      TOML
    end

    it "refuses a manifest without a release profile (the gem would build at cargo's defaults, ~3x larger)" do
      expect { described_class.release_profile("[workspace]\n[profile.dev]\nopt-level = 1\n") }
        .to raise_error(ArgumentError, /no \[profile\.release\] table/)
    end
  end
end
