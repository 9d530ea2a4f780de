# Regenerates tokens.json with the seed's own Ruby: Digest for compose, the jwt gem for JWTs,
# bcrypt-ruby for stored hashes. Run: ruby core/tests/vectors/generate.rb > core/tests/vectors/tokens.json
# Both the Rust tests (core/tests/vectors.rs) and the gem's specs read the output.
require "digest"
require "json"
require "jwt"
require "bcrypt"

SECRET = "vector-secret-for-hs512-0123456789-abcdefghijklmnopqrstuvwxyz"
OTHER = "another-secret-for-hs512-0123456789-abcdefghijklmnopqrstuvwxy"
FAR = 4_102_444_800 # 2100-01-01
PAST = 1_000_000_000 # 2001-09-09

compose = [
  [42, "passcode", "ACME"],
  ["42", "passcode", "ACME"],
  [7, "s3cr3t!", "company-code-1"],
  [-1, "p", "r"],
  [12345678901234, "p@ss word", "Ünïcödé-Räum"],
  ["user@example.com", "🔑 passcode", "ACME"],
  [0, "x", ""],
].map do |uid, pass, company|
  { "user_id" => uid, "passcode" => pass, "company_code" => company,
    "hex" => Digest::SHA256.hexdigest("#{uid}#{pass}#{company}") }
end

tok = Digest::SHA256.hexdigest("42passcodeACME")
jwt = [
  { "name" => "seed shape: integer user_id, no iat", "accept" => true,
    "jwt" => JWT.encode({ user_id: 42, room_id: "ACME", token: tok, exp: FAR }, SECRET, "HS512") },
  { "name" => "string user_id with iat", "accept" => true,
    "jwt" => JWT.encode({ user_id: "u-42", room_id: "ACME", token: tok, exp: FAR, iat: PAST }, SECRET, "HS512") },
  { "name" => "expired", "accept" => false, "error" => "expired",
    "jwt" => JWT.encode({ user_id: 42, room_id: "ACME", token: tok, exp: PAST }, SECRET, "HS512") },
  { "name" => "signed with another secret", "accept" => false, "error" => "signature",
    "jwt" => JWT.encode({ user_id: 42, room_id: "ACME", token: tok, exp: FAR }, OTHER, "HS512") },
  { "name" => "HS256 with the right secret", "accept" => false, "error" => "algorithm",
    "jwt" => JWT.encode({ user_id: 42, room_id: "ACME", token: tok, exp: FAR }, SECRET, "HS256") },
  { "name" => "alg none", "accept" => false, "error" => "algorithm",
    "jwt" => JWT.encode({ user_id: 42, room_id: "ACME", token: tok, exp: FAR }, nil, "none") },
  { "name" => "no exp", "accept" => false, "error" => "exp",
    "jwt" => JWT.encode({ user_id: 42, room_id: "ACME", token: tok }, SECRET, "HS512") },
  { "name" => "not a JWT", "accept" => false, "error" => "malformed", "jwt" => "not-a.jwt" },
]

bcrypt = [tok, Digest::SHA256.hexdigest("7s3cr3t!company-code-1")].map do |t|
  { "token" => t, "hash" => BCrypt::Password.create(t, cost: 4).to_s }
end

puts JSON.pretty_generate(
  "about" => "Shared token vectors. compose: hex = SHA-256(\"\#{user_id}\#{passcode}\#{company_code}\"). " \
             "jwt: HS512 with `secret`; accept=false cases name the reason. bcrypt: hashes written by bcrypt-ruby.",
  "secret" => SECRET,
  "compose" => compose,
  "jwt" => jwt,
  "bcrypt" => bcrypt,
)
