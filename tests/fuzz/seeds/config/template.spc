connection "{{NAME}}" {
  plugin = "{{PLUGIN}}"
  region = {{REGION}}
}
{{#each}}
