connection "broken" {
  plugin = "p
}
