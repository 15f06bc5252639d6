# Secrets of connection configs never reach the state table, the logs or `connstate config
# check`: nested in blocks and lists, cut in half by a truncation, quoted by a parse error.
. "$(dirname "$0")/../lib.sh"

db=$(new_db secrets)
cfg=$T_DIR/config
mkdir -p "$cfg"
TOKEN=Zq7Xw9Pv3Km5Rt8Ny2Lb6Hd4
cat >"$cfg/nested.spc" <<SPC
connection "nested" {
  plugin   = "leaky"
  user     = "admin"
  api_keys = ["list-key-one-4471", "list-key-two-9926"]
  options "auth" {
    token = "nested-token-3318"
  }
  credentials {
    user = "credential-user-5502"
    pin  = 80417723
  }
}
connection "cut_tail" {
  plugin = "leaky_cut"
  mode   = "tail"
  token  = "$TOKEN"
}
connection "cut_big" {
  plugin = "leaky_cut"
  mode   = "big"
  token  = "$TOKEN"
}
SPC
cat >"$cfg/broken.spc" <<'SPC'
connection "broken" {
  plugin   = "leaky"
  password = hunter2unquoted
}
SPC
nested_values="list-key-one-4471 list-key-two-9926 nested-token-3318 credential-user-5502 80417723"

# none_of TEXT WORD...: true when no word occurs in the text (and says which one does).
none_of() {
    local text=$1 word
    shift
    for word in "$@"; do
        if grep -qF -- "$word" <<<"$text"; then
            diag "'$word' occurs: $(grep -oF -- "$word" <<<"$text" | wc -l) times, e.g." \
                "$(grep -F -- "$word" <<<"$text" | head -1 | grep -oE ".{0,50}$word.{0,30}" | head -1)"
            return 1
        fi
    done
}

# quads TEXT: every 4-byte substring of TEXT, one per argument.
quads() {
    local i
    for ((i = 0; i + 4 <= ${#1}; i++)); do echo "${1:i:4}"; done
}

sup_start main "$db" "$cfg" --plugin-timeout 10
log=$T_DIR/main.log

# ---- secrets in nested blocks and lists ---------------------------------------------------
err=$(error_of "$db" nested)
check "nested: the plugin's error is kept, with the secrets masked" \
    grep -q 'login failed for config .*"api_keys":\["\*\*\*","\*\*\*"\]' <<<"$err"
check "nested: the block's token and the credentials block are masked" \
    grep -q '"token":"\*\*\*".*"credentials":\[{"user":"\*\*\*","pin":\*\*\*}\]' <<<"$err"
check "nested: a value that is no secret is kept" grep -q '"user":"admin"' <<<"$err"
# shellcheck disable=SC2086
check "nested: no secret (list items, block attribute, block, number) in the state table" \
    none_of "$(sql "$db" "SELECT connection_state::text FROM connstate_internal.connection_state")" \
    $nested_values
# shellcheck disable=SC2086
check "nested: no secret in the supervisor's or the workers' log" none_of "$(cat "$log")" $nested_values

# ---- a cut in the middle of a secret ------------------------------------------------------
err=$(error_of "$db" cut_tail)
check "cut: the error holds the end of the plugin's stderr" \
    grep -q '^plugin leaky_cut schema exited with status 1: .*\.\.\.\.\.\.$' <<<"$err"
# shellcheck disable=SC2046
check "cut after 300 bytes: no 4 characters of the token in the error" \
    none_of "$err" $(quads "$TOKEN")
err=$(error_of "$db" cut_big)
check "cut after 64 KiB: the error holds the end of the plugin's stderr" \
    grep -q '^plugin leaky_cut schema exited with status 1: .*"mode":"big","token":"\*\*\*"}$' <<<"$err"
# shellcheck disable=SC2046
check "cut after 64 KiB: no 4 characters of the token in the error" \
    none_of "$err" $(quads "$TOKEN")
# shellcheck disable=SC2046
check "cut: no 4 characters of the token in the state table or the log" \
    none_of "$(sql "$db" "SELECT connection_state::text FROM connstate_internal.connection_state")
$(cat "$log")" $(quads "$TOKEN")

# ---- a parse error of a secret attribute does not quote its value -------------------------
err=$(error_of "$db" broken)
check "parse error: the connection is in error with file:line:col" \
    grep -q "^$cfg/broken.spc:3:14: .*strings must be quoted" <<<"$err"
check "parse error: the state table does not quote the value" none_of "$err" hunter2
check "parse error: the supervisor's log does not quote the value" none_of "$(cat "$log")" hunter2
out=$(connstate config check --config-dir "$cfg" 2>&1)
check "config check: reports the error" grep -q "^$cfg/broken.spc:3:14: " <<<"$out"
check "config check: does not quote the value" none_of "$out" hunter2
out=$(connstate config check --config-dir "$cfg" --format json 2>&1)
check "config check --format json: does not quote the value" none_of "$out" hunter2

check "it exits 0 on SIGTERM" sup_stop "$SUP_PID"
done_testing
