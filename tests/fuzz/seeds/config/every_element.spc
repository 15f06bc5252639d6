# every element of the language
connection "all_types" {
  plugin = "synthetic"
  s = "q\"\\\n\t\r\u00e9\ud83d\ude00 $${x} %%{y}"
  i = -42
  f = 6.02e23
  b = true
  n = null
  l = ["a", 1, [true, null], { k = "v" },]
  o = {
    a = 1
    "b c" = 2,
    d: 3
  }
  h = <<-EOT
    indented
      more
    EOT
  one "two" three { x = 1 }
  /* block comment */ // line comment
}
