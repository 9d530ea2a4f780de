# frozen_string_literal: true

require "json"
require "net/http"
require "uri"

module Hermes
  # HERMES_BACKEND=local: mint and enqueue through a running hermes-local (its development
  # endpoints), so a Rails app in development needs no AWS and no emulator.
  class LocalBackend
    def initialize(config)
      @base = URI(config[:local_url] || "http://127.0.0.1:3001")
    end

    def backend
      "local"
    end

    def generate_token(user_id, room_id)
      call(:post, "/_hermes/tokens", user_id: user_id, room_id: room_key(room_id)).fetch("token")
    end

    def compose_token(user_id, room_id)
      call(:post, "/_hermes/tokens", user_id: user_id, room_id: room_key(room_id)).fetch("hex")
    end

    # hermes-local revokes and closes the user's sockets in the room through its queue.
    def revoke_token(user_id, room_id)
      call(:delete, "/_hermes/tokens", user_id: user_id, room_id: room_key(room_id)).fetch("revoked")
    end

    def disconnect(user_id, room_id)
      call(:post, "/_hermes/disconnect", user_id: user_id, room_id: room_key(room_id)).fetch("message_id")
    end

    def presence(room_id)
      call(:post, "/_hermes/presence", room_id: room_key(room_id)).fetch("users")
    end

    def enqueue(user_id, room_id, data_json, to_user_id)
      body = { user_id: user_id, room_id: room_key(room_id), data: JSON.parse(data_json) }
      body[:target_user_id] = to_user_id.to_s if to_user_id
      call(:post, "/_hermes/notifications", body).fetch("message_id")
    end

    def enqueue_batch(entries)
      body = entries.map do |user_id, room_id, data_json, to|
        { user_id: user_id, room_id: room_key(room_id), data: JSON.parse(data_json) }.tap { |h| h[:target_user_id] = to.to_s if to }
      end
      call(:post, "/_hermes/notifications/batch", body).fetch("message_ids")
    end

    def drain_memory_queue
      raise ArgumentError, "drain_notifications needs the memory backend, not local"
    end

    private

    def room_key(room_id)
      room_id.is_a?(String) ? room_id : room_id.to_s
    end

    def call(method, path, body)
      request = (method == :post ? Net::HTTP::Post : Net::HTTP::Delete).new(path, "Content-Type" => "application/json")
      request.body = JSON.generate(body)
      response = Net::HTTP.start(@base.host, @base.port, open_timeout: 2, read_timeout: 10) { |http| http.request(request) }
      parsed = JSON.parse(response.body.to_s.empty? ? "{}" : response.body)
      return parsed if response.is_a?(Net::HTTPSuccess)

      message = "hermes-local at #{@base} answered #{response.code} for #{path}: #{parsed["error"] || response.message}"
      raise(response.code == "413" ? PayloadTooLargeError : LocalBackendError, message)
    rescue SystemCallError, Net::OpenTimeout, Net::ReadTimeout, IOError => e
      raise LocalBackendError, "cannot reach hermes-local at #{@base} (#{e.class}); start it with script/run"
    rescue JSON::ParserError
      raise LocalBackendError, "hermes-local at #{@base} answered #{path} with something other than JSON"
    end
  end
end
