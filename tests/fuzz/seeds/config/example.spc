connection "aws_prod" {
  plugin  = "aws"
  regions = ["us-east-1", "eu-west-1"]
  profile = "prod"   # a comment
  // another comment
  /* and
     another */
  options "rate" { max_rps = 10 }
}

connection "all_aws" {
  plugin      = "aws"
  type        = "aggregator"
  connections = ["aws_*"]
}

connection "archive" {
  plugin        = "csv"
  paths         = ["/data/archive/*.csv"]
  import_schema = "disabled"
  header        = <<EOT
id,name
EOT
}
