# frozen_string_literal: true

require "spec_helper"

RSpec.describe "the native extension" do
  it "lets other Ruby threads run while bcrypt hashes (the GVL is released)" do
    c = client(bcrypt_cost: 13) # ~0.4 s of hashing
    ticks = 0
    done = false
    counter = Thread.new { ticks += 1 until done }
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    c.compose_token(user_id: 1, company_code: "GVL")
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    done = true
    counter.join
    # With the GVL held the counter could not run at all during the hash.
    expect(elapsed).to be > 0.05
    expect(ticks).to be > 10_000
  end

  it "works in a forked child after being used in the parent (Puma/Unicorn preload)" do
    c = client
    c.generate_token(user_id: 1, company_code: "R")
    c.enqueue_notification(user_id: 1, room_id: "R", data: "parent")
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      token = c.generate_token(user_id: 2, company_code: "R")
      c.enqueue_notification(user_id: 2, room_id: "R", data: "child")
      writer.write(JSON.generate([token.count("."), notifications(c).map { |n| n["data"] }]))
      writer.close
      exit!(0)
    end
    writer.close
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    dots, child_queue = JSON.parse(reader.read)
    expect(dots).to eq(2)
    expect(child_queue).to eq(["child"]), "the child has its own memory queue"
    expect(notifications(c).map { |n| n["data"] }).to eq(["parent"])
  end

  it "serves several threads at once" do
    c = client
    tokens = 4.times.map { |i| Thread.new { c.generate_token(user_id: i, company_code: "T") } }.map(&:value)
    expect(tokens.uniq.size).to eq(4)
  end

  it "survives GC.stress around every native call" do
    c = client
    GC.stress = true
    begin
      token = c.generate_token(user_id: "gc", company_code: "GC")
      id = c.enqueue_notification(user_id: "gc", room_id: "GC", data: { "k" => ["v", 1, 2.5, nil] })
      ids = c.enqueue_notifications([{ user_id: 1, room_id: "GC", data: [1] }, { user_id: 2, room_id: "GC", data: { a: 1 } }])
      bodies = notifications(c)
      begin
        c.generate_token(user_id: 1.5, company_code: "GC")
      rescue ArgumentError
        nil
      end
    ensure
      GC.stress = false
    end
    expect(token.count(".")).to eq(2)
    expect([id, *ids].compact.size).to eq(3)
    expect(bodies.map { |b| b["data"] }).to eq([{ "k" => ["v", 1, 2.5, nil] }, [1], { "a" => 1 }])
  end

  it "raises Hermes::Error subclasses defined in Ruby" do
    expect(Hermes::PayloadTooLargeError.ancestors).to include(Hermes::Error, StandardError)
    expect(Hermes::PartialBatchError.new("m", { 0 => "id" }, { 1 => "why" }).failed).to eq(1 => "why")
  end
end
