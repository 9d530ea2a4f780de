# frozen_string_literal: true

# Stands in for importmap-rails, which Debian does not package (the walkthrough test cannot
# install it): renders config/importmap.rb the way importmap-rails' javascript_importmap_tags
# does, an import map of the pins resolved through the asset pipeline, then the module that
# imports "application". Only what the walkthrough's app uses (pin name, to:, preload:).
module ImportmapStandInHelper
  Pins = Struct.new(:map) do
    def pin(name, to: "#{name}.js", preload: false) # rubocop:disable Lint/UnusedMethodArgument
      map[name] = to
    end
  end

  def javascript_importmap_tags(entry_point = "application")
    pins = Pins.new({})
    pins.instance_eval(File.read(Rails.root.join("config/importmap.rb")))
    imports = pins.map.transform_values { |to| asset_path(to) }
    safe_join([
      tag.script(JSON.pretty_generate(imports: imports).html_safe, type: "importmap", "data-turbo-track": "reload"),
      tag.script(%(import "#{entry_point}").html_safe, type: "module"),
    ], "\n")
  end
end
