# frozen_string_literal: true

require "json"
require "net/http"
require "uri"

module Hermes
  # HERMES_BACKEND=local: mint and enqueue through a running hermes-local (its development
  # endpoints), so a Rails app in development needs no AWS and no emulator.
  class LocalBackend
    def initialize(config)
      @base = URI(config.local_url_or_default)
    end

    def backend
      "local"
    end

    def generate_token(user_id, room_id)
      call(:post, "/_hermes/tokens", token_body(user_id, room_id)).fetch("token")
    end

    def compose_token(user_id, room_id)
      call(:post, "/_hermes/tokens", token_body(user_id, room_id)).fetch("hex")
    end

    # hermes-local revokes and closes the user's sockets in the room through its queue.
    def revoke_token(user_id, room_id)
      call(:delete, "/_hermes/tokens", token_body(user_id, room_id)).fetch("revoked")
    end

    def disconnect(user_id, room_id)
      call(:post, "/_hermes/disconnect", user_id: Ids.user(user_id), room_id: Ids.room(room_id, "room_id")).fetch("message_id")
    end

    def presence(room_id)
      call(:post, "/_hermes/presence", room_id: Ids.room(room_id, "room_id")).fetch("users")
    end

    def stream_presence(stream)
      call(:post, "/_hermes/streams/presence", stream: Native.stream_name(stream)).fetch("users")
    end

    def streams_token
      call(:post, "/_hermes/streams/token", {}).fetch("token")
    end

    # Checked here as the native backend checks them (lib/hermes/streams.rb), so both refuse
    # the same broadcast with the same error before anything is sent.
    def broadcast(stream, data_json)
      call(:post, "/_hermes/broadcasts", broadcast_body(Native.check_broadcast(stream, data_json), data_json)).fetch("message_id")
    end

    def broadcast_batch(entries)
      names = Native.check_broadcasts(entries)
      body = entries.each_with_index.map { |(_, data_json), i| broadcast_body(names[i], data_json) }
      call(:post, "/_hermes/broadcasts/batch", "[#{body.join(",")}]").fetch("message_ids")
    end

    # [seq, epoch] (epoch nil: the room has had no message yet).
    def position(room_id)
      answer = call(:post, "/_hermes/position", room_id: Ids.room(room_id, "room_id"))
      [answer.fetch("seq"), answer.fetch("epoch")]
    end

    def enqueue(user_id, room_id, data_json, to_user_id)
      call(:post, "/_hermes/notifications", notification(user_id, room_id, data_json, to_user_id)).fetch("message_id")
    end

    def enqueue_batch(entries)
      body = entries.map { |user_id, room_id, data_json, to| notification(user_id, room_id, data_json, to) }
      call(:post, "/_hermes/notifications/batch", "[#{body.join(",")}]").fetch("message_ids")
    end

    private

    def token_body(user_id, room_id)
      { user_id: Ids.user(user_id), room_id: Ids.room(room_id, "company_code") }
    end

    # The body as JSON text, with +data_json+ (what JSONData.generate made) kept byte for byte,
    # as the native backend keeps it, and never parsed again here.
    def notification(user_id, room_id, data_json, to_user_id)
      head = { user_id: Ids.user(user_id), room_id: Ids.room(room_id, "room_id") }
      head[:target_user_id] = Ids.user(to_user_id, "to_user_id").to_s unless to_user_id.nil?
      "#{JSON.generate(head).chomp("}")},\"data\":#{data_json}}"
    end

    def broadcast_body(stream, data_json)
      "#{JSON.generate(stream: stream).chomp("}")},\"data\":#{data_json}}"
    end

    def call(method, path, body)
      request = (method == :post ? Net::HTTP::Post : Net::HTTP::Delete).new(path, "Content-Type" => "application/json")
      request.body = body.is_a?(String) ? body : JSON.generate(body)
      response = Net::HTTP.start(@base.host, @base.port, open_timeout: 2, read_timeout: 10) { |http| http.request(request) }
      parsed = JSON.parse(response.body.to_s.empty? ? "{}" : response.body)
      return parsed if response.is_a?(Net::HTTPSuccess)

      message = "hermes-local at #{@base} answered #{response.code} for #{path}: #{parsed["error"] || response.message}"
      # 400: hermes-local's own checks refused the arguments, as the native backend would.
      raise ArgumentError, parsed["error"] || message if response.code == "400"

      raise(response.code == "413" ? PayloadTooLargeError : LocalBackendError, message)
    rescue SystemCallError, Net::OpenTimeout, Net::ReadTimeout, IOError => e
      raise LocalBackendError, "cannot reach hermes-local at #{@base} (#{e.class.name.split("::").last}): " \
                               "start hermes-local, or point HERMES_LOCAL_URL at it"
    rescue JSON::ParserError
      raise LocalBackendError, "hermes-local at #{@base} answered #{path} with something other than JSON"
    end
  end
end
