# Regenerates streams.json with ActiveSupport's own MessageVerifier, configured as turbo-rails
# configures Turbo.signed_stream_verifier (SHA256 digest, JSON serializer).
# Run: ruby core/tests/vectors/generate_streams.rb > core/tests/vectors/streams.json
# Both the Rust tests (core/tests/vectors.rs) and the gem's specs read the output.
require "json"
require "active_support"
require "active_support/message_verifier"

KEY = "0f5a3c9e7d1b2a4c6e8f0a1b3c5d7e9f1a2b3c4d5e6f708192a3b4c5d6e7f809"
OTHER = "a different key, as another app would have"

def verifier(key) = ActiveSupport::MessageVerifier.new(key, digest: "SHA256", serializer: JSON)

names = [
  "board_1",
  "gid://app/Board/1:messages",
  "gid://app/User/42:gid://app/Board/7",
  "Ünïcödé/Räum 😀",
  "quote \" backslash \\ slash / tab \t newline \n nul \u0000 del \u007f",
  "x" * 1024,
]
signed = names.map { |n| { "name" => n, "signed" => verifier(KEY).generate(n) } }

good = signed[1]["signed"]
data, digest = good.split("--")
refused = [
  { "why" => "signed by another app's key", "signed" => verifier(OTHER).generate("board_1") },
  { "why" => "the name swapped under the same digest",
    "signed" => "#{[JSON.dump("gid://app/Board/2:messages")].pack("m0")}--#{digest}" },
  { "why" => "a digit of the digest changed", "signed" => "#{data}--#{digest.tr("0123456789abcdef", "123456789abcdef0")}" },
  { "why" => "no digest", "signed" => data },
  { "why" => "signed with a purpose (Turbo signs none)", "signed" => verifier(KEY).generate("board_1", purpose: :other) },
  { "why" => "a value that is not a string", "signed" => verifier(KEY).generate({ "stream" => "board_1" }) },
]
refused.each { |r| raise "ActiveSupport accepts #{r["why"]}" if verifier(KEY).verified(r["signed"]) == "board_1" }

puts JSON.pretty_generate("key" => KEY, "signed" => signed, "refused" => refused)
