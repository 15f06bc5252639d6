# Mixed-case connection names (each its schema's exact name) and the database's search path.
options "database" {
  search_path_prefix = ["AwsProd", "aws_Dev"]
  search_path        = ["AwsProd", "public", "we\"ird"]
}

connection "AwsProd" {
  plugin = "aws"
}

connection "aws_Dev" {
  plugin = "aws"
}

connection "awsprod" {
  plugin = "aws"
}

connection "Public" {
  plugin = "aws"
}
