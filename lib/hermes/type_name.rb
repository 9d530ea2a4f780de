# frozen_string_literal: true

module Hermes
  # How an error message names what a caller passed: by its class, never by its value (a value
  # can hold a secret: ENV, a token, a credentials hash). Safe for any object: a BasicObject,
  # or one whose #class or #inspect is overridden, raises or is slow (an ActiveRecord model's).
  module TypeName
    CLASS_OF = ::Kernel.instance_method(:class)
    NAME = ::Module.instance_method(:name)
    TO_S = ::Module.instance_method(:to_s)
    private_constant :CLASS_OF, :NAME, :TO_S

    module_function

    # "Time"; "#<Class:0x...>" for an anonymous class.
    def of(value)
      klass = CLASS_OF.bind_call(value)
      NAME.bind_call(klass) || TO_S.bind_call(klass)
    end

    # "a Time", "an Object".
    def with_article(value)
      name = of(value)
      "#{name.match?(/\A[AEIOU]/) ? "an" : "a"} #{name}"
    end
  end
end
