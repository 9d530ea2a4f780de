# frozen_string_literal: true

# ruby -Ilib bench/generate_token.rb   (after `rake compile`)
#
# generate_token through hermes-core vs the seed's pure-Ruby implementation (Digest, the
# bcrypt gem, the jwt gem), both at bcrypt cost 10 and neither touching DynamoDB (Hermes on
# the memory backend; the seed's put_item left out). Then 1 vs 2 threads of first mints.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "hermes"
require "digest"
require "bcrypt"
require "jwt"

SECRET = "benchmark-secret-for-hs512-0123456789abcdef"
PASSCODE = "benchmark-passcode"
COST = Integer(ENV.fetch("COST", "10"))

def seed_generate_token(user_id:, company_code:)
  token = Digest::SHA256.hexdigest("#{user_id}#{PASSCODE}#{company_code}")
  BCrypt::Password.create(token, cost: COST) # what the seed stores
  payload = { user_id: user_id, room_id: company_code, token: token, exp: Time.now.to_i + 3600 }
  JWT.encode(payload, SECRET, "HS512")
end

def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC)

def per_call(n)
  t = clock
  n.times { |i| yield i }
  (clock - t) / n
end

def client
  config = Hermes::Configuration.new({}).apply(jwt_secret: SECRET, passcode: PASSCODE, backend: "memory", bcrypt_cost: COST)
  Hermes::Client.new(config)
end

def fmt(s) = s >= 1e-3 ? format("%.2f ms", s * 1e3) : format("%.2f µs", s * 1e6)

n = Integer(ENV.fetch("N", "20"))
hermes = client
hermes.generate_token(user_id: 0, company_code: "warm")
seed_generate_token(user_id: 0, company_code: "warm")

seed = per_call(n) { |i| seed_generate_token(user_id: i, company_code: "ACME") }
first = per_call(n) { |i| hermes.generate_token(user_id: 1_000 + i, company_code: "ACME") }
hermes.generate_token(user_id: 1, company_code: "REPEAT")
repeat = per_call(20_000) { hermes.generate_token(user_id: 1, company_code: "REPEAT") }

puts "bcrypt cost #{COST}, #{n} first mints each"
puts format("seed (Digest + bcrypt gem + jwt gem):  %s per token", fmt(seed))
puts format("hermes first mint:                     %s per token (%.2fx the seed's time)", fmt(first), first / seed)
puts format("hermes repeat mint (hash reused):      %s per token (%.0fx faster than the seed)", fmt(repeat), seed / repeat)

threads = ->(k) do
  c = client
  per = n / k
  t = clock
  k.times.map { |j| Thread.new { per.times { |i| c.generate_token(user_id: 10_000 * (j + 1) + i, company_code: "T") } } }.each(&:join)
  (per * k) / (clock - t)
end
one = threads.(1)
two = threads.(2)
puts format("first mints, 1 thread: %.1f/s, 2 threads: %.1f/s (%.2fx)", one, two, two / one)
