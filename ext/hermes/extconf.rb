# frozen_string_literal: true

# Writes a Makefile that builds the extension with cargo. The rb_sys gem is not needed: the
# rb-sys crate only needs `ruby` (given as $RUBY) and libclang.
require "rbconfig"
require "fileutils"

ext_dir = __dir__
gem_root = File.expand_path("../..", ext_dir)
# In the installed gem there is no workspace manifest: build with the lockfile shipped at the
# gem root, so the versions are the ones the gem was released with.
if !File.exist?(File.join(gem_root, "Cargo.toml")) && File.exist?(File.join(gem_root, "Cargo.lock"))
  FileUtils.cp(File.join(gem_root, "Cargo.lock"), File.join(ext_dir, "Cargo.lock"))
end

cargo = ENV.fetch("CARGO", "cargo")
abort "hermes-notifications needs Rust's cargo on PATH (https://rustup.rs) to build its extension" unless system("#{cargo} --version", out: File::NULL, err: File::NULL)

target_dir = ENV["CARGO_TARGET_DIR"] || File.join(ext_dir, "target")
# A target dir inside the gem is only scaffolding: removed after install, it would keep ~150 MB.
inside = target_dir.start_with?(ext_dir)
so = "hermes_native.#{RbConfig::CONFIG["DLEXT"]}"
built = File.join(target_dir, "release", "libhermes_native.so")
ruby = File.join(RbConfig::CONFIG["bindir"], RbConfig::CONFIG["ruby_install_name"])

File.write("Makefile", <<~MAKE)
  RUBYARCHDIR = $(sitearchdir)$(target_prefix)
  sitearchdir = #{RbConfig::CONFIG["sitearchdir"]}
  target_prefix = /hermes

  all: #{so}

  #{so}:
  \tcd #{ext_dir} && RUBY=#{ruby} CARGO_TARGET_DIR=#{target_dir} #{cargo} build --release --manifest-path #{File.join(ext_dir, "Cargo.toml")}
  \tcp #{built} #{so}

  install: #{so}
  \tmkdir -p $(RUBYARCHDIR)
  \tcp #{so} $(RUBYARCHDIR)/#{so}
  #{inside ? "\trm -rf #{target_dir}" : ""}

  clean:
  \trm -f #{so}
  #{inside ? "\trm -rf #{target_dir}" : ""}
MAKE
