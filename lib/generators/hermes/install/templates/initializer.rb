# frozen_string_literal: true

# Hermes: real-time notifications from Rails to browsers over API Gateway WebSockets.
# Settings come from the credentials (bin/rails credentials:edit, under `hermes:`), then from
# the HERMES_* environment variables; anything set here wins over both.
Hermes.configure do |c|
  # Who a page is for. Both run on the controller of every page whose layout has
  # hermes_connect_tag, and of the token refresh endpoint (mounted at /hermes in
  # config/routes.rb), so your authentication's helpers work here. Answer nil when nobody is
  # signed in: the page then gets no room, only its streams (Turbo Streams on public pages),
  # and opens a WebSocket only while it holds one.
  #
  # FILL IN the signed-in user's id (an Integer or a String), e.g. `current_user&.id`:
  c.current_user_id = -> { nil }
  # FILL IN the company (room) whose notifications that user gets, e.g. `current_user&.company&.code`:
  c.current_company_code = -> { nil }

  # Development without AWS: hermes-local on http://127.0.0.1:3001 (HERMES_LOCAL_URL) mints
  # the tokens and delivers the notifications; nothing else to set.
  c.backend = "local" if Rails.env.development? && ENV["HERMES_BACKEND"].nil?

  # A page hidden this many seconds (a background tab) closes its socket until it is shown
  # again, then recovers what it missed: API Gateway bills every connected minute. Default 60;
  # false keeps hidden pages connected.
  # c.close_hidden_after = 60
end
