# Sourced by script/gem-install-check (the source gem) and script/native-gem-check (the
# platform gem): one build step, one size bound, and the one smoke test an installed gem must
# pass, whichever gem it is. Sets HERMES_ROOT (and cds there), version, dlext, work (a
# throwaway directory removed on exit) and home (the GEM_HOME to install into).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HERMES_ROOT"

version=$(ruby -Ilib -rhermes/version -e 'print Hermes::VERSION')
dlext=$(ruby -e 'print RbConfig::CONFIG["DLEXT"]')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
home="$work/gems"

# build_gems TASK...: the rake tasks that write pkg/*.gem; their output is shown only if they fail.
build_gems() {
  rake "$@" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
}

# at_most LIMIT_KB KB WHAT: fails when WHAT takes more than LIMIT_KB.
at_most() {
  (($2 <= $1)) || { echo "$3 takes $2 KB, more than $1 KB"; exit 1; }
}

# smoke_test LABEL EXT RUBY...: in the current directory (an unrelated one), RUBY... (ruby, or
# a wrapper that ends in ruby, such as `bundle exec ruby`) requires the installed gem, which
# must load its extension from EXT (relative to the gem's directory) and nowhere else, then
# mints a token, queues a notification and a broadcast on the memory backend, and loads the
# Action Cable adapter where Action Cable looks for it.
smoke_test() {
  local label=$1 ext=$2
  shift 2
  HERMES_BACKEND=memory HERMES_JWT_SECRET=installed-gem-check-secret-0123456789abcdef \
    HERMES_PASSCODE=p HERMES_BCRYPT_COST=4 "$@" -e '
    label, ext = ARGV
    require "hermes"
    require "hermes/testing"
    want = File.join(Gem.loaded_specs.fetch("hermes-notifications").full_gem_path, ext)
    loaded = $LOADED_FEATURES.grep(/hermes_native/)
    abort "#{label}: loaded #{loaded.inspect}, not #{want}" unless loaded == [want]
    token = Hermes.generate_token(user_id: 1, company_code: "ACME")
    abort "#{label}: bad token" unless token.count(".") == 2
    Hermes.enqueue_notification(user_id: 1, room_id: "ACME", data: { type: "info" })
    abort "#{label}: nothing queued" unless Hermes::Testing.notifications.size == 1
    Hermes.broadcast(stream: "board_1", data: "<p>")
    abort "#{label}: no broadcast" unless Hermes::Testing.broadcasts == [{ "stream" => "board_1", "data" => "<p>" }]
    abort "#{label}: no Action Cable adapter" unless $LOAD_PATH.resolve_feature_path("action_cable/subscription_adapter/hermes")
    puts "#{label} OK: #{want}"
  ' "$label" "$ext"
}

# local_help_ok LABEL CMD...: `CMD... --help` succeeds and prints hermes-local's usage.
local_help_ok() {
  local label=$1 out
  shift
  out=$("$@" --help 2>&1) || { echo "$label: hermes-local --help failed:"; echo "$out"; exit 1; }
  grep -q "^USAGE: hermes-local" <<<"$out" || { echo "$label: hermes-local --help printed:"; echo "$out"; exit 1; }
}
