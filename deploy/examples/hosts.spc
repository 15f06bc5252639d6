# Example connections of the bundled hostinfo plugin: the same static schema (processes,
# mounts, network interfaces, memory, load) read from this host's /proc.
connection "host" {
  plugin = "hostinfo"
}

connection "host_replica" {
  plugin = "hostinfo"
}

connection "host_staging" {
  plugin = "hostinfo"
}

# A connection that is configured but not imported: status "disabled", no schema.
connection "host_archive" {
  plugin        = "hostinfo"
  import_schema = "disabled"
}
