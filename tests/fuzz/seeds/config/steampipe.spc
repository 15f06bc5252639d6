plugin "aws_high" {
  source        = "turbot/aws@^0.5"
  memory_max_mb = 4096
  env           = { AWS_PROFILE = "prod", AWS_MAX_ATTEMPTS = "9" }
  limiter "aws_global" {
    max_concurrency = 200
    bucket_size     = 1000
    fill_rate       = 1000
    scope           = ["connection", "region"]
    where           = "service = 's3'"
  }
  start_timeout = 30
}

plugin "csv" {
  source = "hub.steampipe.io/plugins/turbot/csv@>=0.5, <0.7 || ~1.2.x"
}

options "plugin" {
  memory_max_mb = 1024
}

connection "aws_prod" {
  plugin  = plugin.aws_high
  regions = ["*"]
}

connection "aws" {
  plugin = "aws"
}

connection "gitlab" {
  plugin = "theapsgroup/gitlab"
}

connection "sales" {
  plugin = "csv@0.5.0"
  paths  = ["/data/*.csv"]
}

connection "oci" {
  plugin = "local/oci"
}

connection "latest" {
  plugin = "ghcr.io/turbot/steampipe/plugins/turbot/net@latest"
}

connection "ranges" {
  plugin = "net@0.5 - 0.7.2"
}
