connection "curly" {
  plugin = “aws”
  profile = ‘dev’
  ok = "“inside”"
  cut = "end”
}
