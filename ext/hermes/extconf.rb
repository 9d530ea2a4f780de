# frozen_string_literal: true

# Writes a Makefile that builds the extension with cargo. The rb_sys gem is not needed: the
# rb-sys crate only needs `ruby` (given as $RUBY) and libclang.
require "rbconfig"
require "fileutils"
require "shellwords"
require_relative "native_build"

ext_dir = __dir__
gem_root = File.expand_path("../..", ext_dir)
# In the installed gem there is no workspace manifest: build with the lockfile shipped at the
# gem root, so the versions are the ones the gem was released with.
if !File.exist?(File.join(gem_root, "Cargo.toml")) && File.exist?(File.join(gem_root, "Cargo.lock"))
  FileUtils.cp(File.join(gem_root, "Cargo.lock"), File.join(ext_dir, "Cargo.lock"))
end

# `gem install` captures what this script and make print and shows it only when the build fails
# or with --verbose; the terminal, when there is one, is where the person waiting sees this.
def tell(line)
  puts line
  File.open("/dev/tty", "w") { |tty| tty.puts(line) }
rescue SystemCallError
  nil # no terminal (CI, docker build): the line is in the captured output
end

platform_gem = "a precompiled platform gem (`rake native:gem`, see the README) installs without Rust"
cargo = ENV.fetch("CARGO", "cargo")
unless system("#{cargo} --version", out: File::NULL, err: File::NULL)
  abort "hermes-notifications needs Rust's cargo on PATH (https://rustup.rs) to build its extension; #{platform_gem}"
end
tell "hermes-notifications: compiling its Rust extension with cargo, this takes several minutes " \
     "(5 to 10 on 2 cores); #{platform_gem} in seconds."

target_dir = ENV["CARGO_TARGET_DIR"] || File.join(ext_dir, "target")
# A target dir inside the gem is only scaffolding: kept after install, it would hold ~600 MB.
inside = File.expand_path(target_dir).start_with?("#{ext_dir}/")
names = HermesBuild.names
built = File.join(target_dir, "release", names.cargo_file)
ruby = File.join(RbConfig::CONFIG["bindir"], RbConfig::CONFIG["ruby_install_name"])
# The one installed copy goes next to lib/hermes.rb, which requires it from there. Installed
# into $(sitearchdir) as usual, RubyGems would keep it twice (the gem's lib dir and its
# extensions dir).
lib_dir = File.join(gem_root, "lib", "hermes")
build = [cargo, "build", "--release", "--manifest-path", File.join(ext_dir, "Cargo.toml")]
# The workspace's release profile (size, fat LTO, stripped), which cargo would not apply here.
build += ["--config", HermesBuild::PROFILE_FILE] if File.exist?(HermesBuild::PROFILE_FILE)
sh = ->(words) { words.map { |w| Shellwords.escape(w) }.join(" ") }
# RubyGems 3.3 sets SOURCE_DATE_EPOCH to the time of each install. The cc crate tells cargo to
# rebuild C code when it changes (GCC expands __DATE__ from it), so every install would rebuild
# aws-lc and the whole AWS SDK above it, in a shared CARGO_TARGET_DIR too. Nothing this build
# compiles reads the date.
#
# Cargo names the cdylib without a hash (target/release/deps/libhermes_native.so), so in a
# shared CARGO_TARGET_DIR this build and a checkout's `rake compile` write the same file and
# each would take the other's for its own (cargo only sees that the file is newer than its
# sources). The file goes before the build (RubyGems runs `make clean` first), so cargo links
# this gem's own, and after the copy, so `rake native:gem` in a checkout never packs this one.
artifacts = [built, File.join(target_dir, "release", "deps", names.cargo_file)]

File.write("Makefile", <<~MAKE)
  all:
  \tcd #{sh[[ext_dir]]} && unset SOURCE_DATE_EPOCH && RUBY=#{sh[[ruby]]} CARGO_TARGET_DIR=#{sh[[target_dir]]} #{sh[build]}

  install: all
  \tmkdir -p #{sh[[lib_dir]]}
  \tcp #{sh[[built]]} #{sh[[File.join(lib_dir, names.ruby_file)]]}
  #{inside ? "\trm -rf #{sh[[target_dir]]}" : "\trm -f #{sh[artifacts]}"}

  clean:
  #{inside ? "\trm -rf #{sh[[target_dir]]}" : "\trm -f #{sh[artifacts]}"}

  .PHONY: all install clean
MAKE
