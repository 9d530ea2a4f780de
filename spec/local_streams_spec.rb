# frozen_string_literal: true

require "spec_helper"
require "timeout"
require "uri"
require "websocket/driver"

# What a page of nobody does against hermes-local, with what the gem's local backend gives it:
# a streams token and a name signed with the development key (the key rule:
# lib/hermes/streams.rb). A broadcast through the local backend then reaches the socket with
# its data unchanged, and a name signed with another key is refused.
RSpec.describe "streams on the local backend, seen from a socket" do
  # A WebSocket client on a plain TCP socket (websocket-driver, which Action Cable uses).
  class TestSocket # rubocop:disable Lint/ConstantDefinitionInBlock
    attr_reader :url

    def initialize(url)
      @url = url
      uri = URI(url)
      @tcp = TCPSocket.new(uri.host, uri.port)
      @driver = WebSocket::Driver.client(self)
      @frames = Thread::Queue.new
      opened = Thread::Queue.new
      @driver.on(:open) { opened << true }
      @driver.on(:message) { |e| @frames << e.data }
      @driver.on(:close) { @frames << :closed }
      @driver.start
      @reader = Thread.new do
        loop { @driver.parse(@tcp.readpartial(65_536)) }
      rescue IOError, SystemCallError
        @frames << :closed
      end
      Timeout.timeout(5) { opened.pop }
    end

    def write(bytes)
      @tcp.write(bytes)
    end

    def send_json(value)
      @driver.text(JSON.generate(value))
    end

    # The next frame, parsed (fails after +seconds+).
    def next_frame(seconds = 10)
      frame = Timeout.timeout(seconds) { @frames.pop }
      raise "the socket closed" if frame == :closed

      JSON.parse(frame)
    end

    def close
      @tcp.close
      @reader.join(1)
    end
  end

  before(:all) { @pid, @port = start_hermes_local }
  after(:all) { stop_hermes_local(@pid) }
  after { Hermes.reset! }

  before do
    Hermes.configure { |c| c.apply(backend: "local", local_url: "http://127.0.0.1:#{@port}", jwt_secret: nil) }
  end

  def open_socket
    TestSocket.new("ws://127.0.0.1:#{@port}/development?token=#{Hermes.client.streams_token}")
  end

  it "subscribes with the gem's signed name and gets the broadcast's data unchanged" do
    socket = open_socket
    signed = Hermes.signed_stream_name([:board, 1])
    socket.send_json(action: "subscribe", streams: [signed])
    answer = socket.next_frame
    expect(answer).to include("hermes" => "subscribed")
    expect(answer["streams"]).to match([include("name" => signed, "stream" => "board:1")])

    html = %(<turbo-stream action="append" target="cards"><template>Ünï & "x"</template></turbo-stream>)
    Hermes.client.broadcast_json(stream: "board:1", json: JSON.generate(html))
    frame = socket.next_frame
    expect(frame).to include("stream" => "board:1", "data" => html, "seq" => 1)
    expect(frame).not_to have_key("user_id")
  ensure
    socket&.close
  end

  it "refuses a name signed with another key" do
    socket = open_socket
    forged = Hermes::Native.sign_stream_name(Hermes::Native.stream_key(SECRET), "board:1")
    socket.send_json(action: "subscribe", streams: [forged])
    answer = socket.next_frame
    expect(answer).to include("hermes" => "error", "name" => forged)
    expect(answer["error"]).to include("signature does not match")
  ensure
    socket&.close
  end
end
