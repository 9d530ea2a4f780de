# frozen_string_literal: true

require "spec_helper"
require "open3"

RSpec.describe "require 'hermes/rspec'" do
  def run_suite(file, **extra)
    env = { "HERMES_BACKEND" => nil, "HERMES_JWT_SECRET" => nil, "HERMES_PASSCODE" => nil, "HERMES_QUEUE_URL" => nil,
            "HERMES_SECRET_ID" => nil }.merge(extra)
    Open3.capture2e(env, "rspec", "--no-color", "--format", "progress", File.join(__dir__, "fixtures/user_suite", file))
  end

  it "gives a user's suite test mode and the have_enqueued_notification matcher" do
    out, status = run_suite("matchers.rb")
    expect(status).to be_success, out
    expect(out).to match(/5 examples, 0 failures/)
  end

  it "keeps test mode off the stack's secret when the environment names one" do
    out, status = run_suite("matchers.rb", "HERMES_SECRET_ID" => "hermes/production")
    expect(status).to be_success, out
    expect(out).to match(/5 examples, 0 failures/)
  end

  it "records disconnects and fakes presence for a user's suite" do
    out, status = run_suite("delivery.rb")
    expect(status).to be_success, out
    expect(out).to match(/3 examples, 0 failures/)
  end

  it "gives a user's suite the have_enqueued_broadcast matcher, the broadcasts and a stream's presence" do
    out, status = run_suite("broadcasts.rb")
    expect(status).to be_success, out
    expect(out).to match(/5 examples, 0 failures/)
  end

  it "fails an example whose block enqueued nothing matching, with the reason" do
    out, status = run_suite("failing.rb")
    expect(status).not_to be_success
    expect(out).to include("1 example, 1 failure")
    expect(out).to include('expected a notification to room "ACME" with data including {:type=>"info"}, found 0')
  end
end
