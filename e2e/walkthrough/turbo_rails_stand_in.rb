# frozen_string_literal: true

# turbo-rails, as far as the walkthrough's Turbo app uses it. turbo-rails is not packaged in
# Debian and rubygems.org is out of reach here, so this file is what the app loads in its place
# (required from config/application.rb right after Bundler.require, where the gem would be
# loaded), and what the gem's Action Cable specs load (spec/fixtures/cable_app/turbo.rb). Each piece follows turbo-rails 2.0's own code, so what the gateway sees is what a real
# turbo-rails app sends:
# - config.turbo exists before the app's initializers run, and the verifier key is read once
#   they have (Turbo::Engine's "turbo.signed_stream_verifier_key" initializer);
# - names are signed by ActiveSupport::MessageVerifier, digest SHA256, JSON serializer
#   (Turbo.signed_stream_verifier), from streamables joined by ":" after to_gid_param or
#   to_param (Turbo::Streams::StreamName);
# - turbo_stream_from renders <turbo-cable-stream-source channel="Turbo::StreamsChannel"
#   signed-stream-name="..."> (Turbo::StreamsHelper);
# - broadcasts go out through ActionCable.server.broadcast(name, html) with the markup of
#   turbo_stream_action_tag (Turbo::Streams::Broadcasts, Turbo::Streams::ActionHelper);
# - broadcasts_to appends later on create, replaces later on update, removes on destroy, with
#   the record's partial (Turbo::Broadcastable).
# Not here: Turbo's JavaScript (the app loads @hotwired/turbo from npm, as the README says),
# refreshes, morphing, frames, the test helpers.
require "action_cable"
require "active_job"

module Turbo
  class << self
    attr_writer :signed_stream_verifier_key

    def signed_stream_verifier
      @signed_stream_verifier ||= ActiveSupport::MessageVerifier.new(signed_stream_verifier_key, digest: "SHA256", serializer: JSON)
    end

    def signed_stream_verifier_key
      @signed_stream_verifier_key or raise ArgumentError, "Turbo requires a signed_stream_verifier_key"
    end
  end

  class Engine < ::Rails::Railtie
    config.turbo = ActiveSupport::OrderedOptions.new

    initializer "turbo.signed_stream_verifier_key" do
      config.after_initialize do
        Turbo.signed_stream_verifier_key = config.turbo.signed_stream_verifier_key ||
                                           Rails.application.key_generator.generate_key("turbo/signed_stream_verifier_key")
      end
    end

    initializer "turbo.helpers", before: :load_config_initializers do
      ActiveSupport.on_load(:action_controller_base) { helper Turbo::StreamsHelper }
    end

    initializer "turbo.broadcastable" do
      ActiveSupport.on_load(:active_record) { include Turbo::Broadcastable }
    end
  end

  module Streams
    module StreamName
      def verified_stream_name(signed_stream_name)
        Turbo.signed_stream_verifier.verified signed_stream_name
      end

      def signed_stream_name(streamables)
        Turbo.signed_stream_verifier.generate stream_name_from(streamables)
      end

      private

      def stream_name_from(streamables)
        if streamables.is_a?(Array)
          streamables.map { |streamable| stream_name_from(streamable) }.join(":")
        else
          streamables.then { |streamable| streamable.try(:to_gid_param) || streamable.to_param }
        end
      end
    end

    module ActionHelper
      include ActionView::Helpers::TagHelper

      def turbo_stream_action_tag(action, target: nil, targets: nil, template: nil, **attributes)
        template = action.to_sym.in?(%i[remove refresh]) ? "" : tag.template(template.to_s.html_safe)

        if (target = convert_to_turbo_stream_dom_id(target))
          tag.turbo_stream(template, **attributes, action: action, target: target)
        elsif (targets = convert_to_turbo_stream_dom_id(targets, include_selector: true))
          tag.turbo_stream(template, **attributes, action: action, targets: targets)
        else
          tag.turbo_stream(template, **attributes, action: action)
        end
      end

      private

      def convert_to_turbo_stream_dom_id(target, include_selector: false)
        target_array = Array.wrap(target)
        if target_array.any? { |value| value.respond_to?(:to_key) || value.is_a?(Class) }
          "#{"#" if include_selector}#{ActionView::RecordIdentifier.dom_id(*target_array)}"
        else
          target
        end
      end
    end

    module Broadcasts
      include ActionHelper

      def broadcast_remove_to(*streamables, **opts)
        broadcast_action_to(*streamables, action: :remove, render: false, **opts)
      end

      def broadcast_replace_to(*streamables, **opts)
        broadcast_action_to(*streamables, action: :replace, **opts)
      end

      def broadcast_append_to(*streamables, **opts)
        broadcast_action_to(*streamables, action: :append, **opts)
      end

      def broadcast_action_to(*streamables, action:, target: nil, targets: nil, attributes: {}, **rendering)
        broadcast_stream_to(*streamables, content: turbo_stream_action_tag(
          action, target: target, targets: targets, template: render_broadcast_action(rendering), **attributes
        ))
      end

      def broadcast_replace_later_to(*streamables, **opts)
        broadcast_action_later_to(*streamables, action: :replace, **opts)
      end

      def broadcast_append_later_to(*streamables, **opts)
        broadcast_action_later_to(*streamables, action: :append, **opts)
      end

      def broadcast_action_later_to(*streamables, action:, target: nil, targets: nil, attributes: {}, **rendering)
        streamables.flatten!
        streamables.compact_blank!
        return unless streamables.present?

        target = convert_to_turbo_stream_dom_id(target)
        targets = convert_to_turbo_stream_dom_id(targets, include_selector: true)
        Turbo::Streams::ActionBroadcastJob.perform_later \
          stream_name_from(streamables), action: action, target: target, targets: targets, attributes: attributes, **rendering
      end

      def broadcast_stream_to(*streamables, content:)
        streamables.flatten!
        streamables.compact_blank!
        ActionCable.server.broadcast stream_name_from(streamables), content if streamables.present?
      end

      private

      def render_format(format, **rendering)
        ApplicationController.render(formats: [format], **rendering)
      end

      def render_broadcast_action(rendering)
        content = rendering.delete(:content)
        html = rendering.delete(:html)
        render = rendering.delete(:render)
        return nil if render == false

        content || html || (render_format(:html, **rendering) if rendering.present?)
      end
    end

    class ActionBroadcastJob < ActiveJob::Base
      discard_on ActiveJob::DeserializationError

      def perform(stream, action:, target:, attributes: {}, **rendering)
        Turbo::StreamsChannel.broadcast_action_to stream, action: action, target: target, attributes: attributes, **rendering
      end
    end
  end

  class StreamsChannel < ActionCable::Channel::Base
    extend Streams::Broadcasts
    extend Streams::StreamName
  end

  module StreamsHelper
    def turbo_stream_from(*streamables, **attributes)
      raise ArgumentError, "streamables can't be blank" unless streamables.any?(&:present?)

      attributes[:channel] = attributes[:channel]&.to_s || "Turbo::StreamsChannel"
      attributes[:"signed-stream-name"] = Turbo::StreamsChannel.signed_stream_name(streamables)

      tag.turbo_cable_stream_source(**attributes)
    end
  end

  module Broadcastable
    extend ActiveSupport::Concern

    class_methods do
      def broadcasts_to(stream, inserts_by: :append, target: broadcast_target_default, **rendering)
        after_create_commit -> { broadcast_action_later_to(stream.try(:call, self) || send(stream), action: inserts_by, target: target.try(:call, self) || target, **rendering) }
        after_update_commit -> { broadcast_replace_later_to(stream.try(:call, self) || send(stream), **rendering) }
        after_destroy_commit -> { broadcast_remove_to(stream.try(:call, self) || send(stream)) }
      end

      def broadcast_target_default
        model_name.plural
      end
    end

    def broadcast_remove_to(*streamables, target: self, **rendering)
      Turbo::StreamsChannel.broadcast_remove_to(*streamables, **extract_options_and_add_target(rendering, target: target))
    end

    def broadcast_replace_later_to(*streamables, **rendering)
      Turbo::StreamsChannel.broadcast_replace_later_to(*streamables, **extract_options_and_add_target(rendering, target: self))
    end

    def broadcast_action_later_to(*streamables, action:, target: broadcast_target_default, attributes: {}, **rendering)
      Turbo::StreamsChannel.broadcast_action_later_to(*streamables, action: action, attributes: attributes,
                                                      **extract_options_and_add_target(rendering, target: target))
    end

    private

    def broadcast_target_default
      self.class.broadcast_target_default
    end

    def extract_options_and_add_target(rendering = {}, target: broadcast_target_default)
      broadcast_rendering_with_defaults(rendering).tap do |options|
        options[:target] = target if !options.key?(:target) && !options.key?(:targets)
      end
    end

    def broadcast_rendering_with_defaults(options)
      options.tap do |o|
        o[:locals] = (o[:locals] || {}).reverse_merge(model_name.element.to_sym => self)
        if o[:html] || o[:partial]
          return o
        elsif o[:template] || o[:renderable]
          o[:layout] = false
        elsif o[:render] == false
          return o
        else
          o[:partial] ||= to_partial_path
        end
      end
    end
  end
end
