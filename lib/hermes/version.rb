# frozen_string_literal: true

module Hermes
  VERSION = "0.1.0"
end
