connection "bom" {
  plugin = "p"
  region = "us-east-1"
}
