#!/bin/bash
# connstate keygen: a CURVE certificate pair in czmq's format; the secret one private (0600,
# whatever the umask), the public one without the secret; never overwrites.
. "$(dirname "$0")/../lib.sh"

key() { sed -n "s/^ *$1 = \"\\(.*\\)\"$/\\1/p" "$2"; }

out=$( (umask 000 && connstate keygen "$T_DIR/a.cert") 2>&1)
check_eq "keygen FILE succeeds" 0 "$?"
check "... writes FILE and FILE_secret" test -f "$T_DIR/a.cert" -a -f "$T_DIR/a.cert_secret"
check_eq "... the secret certificate is mode 0600 even with umask 000" 600 \
    "$(stat -c %a "$T_DIR/a.cert_secret")"
check_eq "... the public one holds a 40-character public key" 40 \
    "$(key public-key "$T_DIR/a.cert" | tr -d '\n' | wc -c)"
check_eq "... and no secret key" "" "$(key secret-key "$T_DIR/a.cert")"
check_eq "... the secret one holds the same public key" "$(key public-key "$T_DIR/a.cert")" \
    "$(key public-key "$T_DIR/a.cert_secret")"
check_eq "... and a 40-character secret key" 40 \
    "$(key secret-key "$T_DIR/a.cert_secret" | tr -d '\n' | wc -c)"
check "... and says what it wrote, with the public key, never the secret one" \
    bash -c "grep -qF -- '$(key public-key "$T_DIR/a.cert")' <<<\"\$1\" &&
             ! grep -qF -- '$(key secret-key "$T_DIR/a.cert_secret")' <<<\"\$1\"" _ "$out"

sum_before=$(cat "$T_DIR/a.cert" "$T_DIR/a.cert_secret" | md5sum)
err=$(connstate keygen "$T_DIR/a.cert" 2>&1)
check_eq "keygen refuses to overwrite (exit 1)" 1 "$?"
check "... saying so" grep -q "File exists (not overwritten)" <<<"$err"
check_eq "... and both files are as they were" "$sum_before" \
    "$(cat "$T_DIR/a.cert" "$T_DIR/a.cert_secret" | md5sum)"
touch "$T_DIR/b.cert"
connstate keygen "$T_DIR/b.cert" >/dev/null 2>&1
check_eq "a public file in the way: refused" 1 "$?"
check "... and no secret file is left behind" test ! -e "$T_DIR/b.cert_secret"

connstate keygen "$T_DIR/c.cert" >/dev/null
check "two certificates differ" test "$(key public-key "$T_DIR/a.cert")" != \
    "$(key public-key "$T_DIR/c.cert")"
connstate keygen >/dev/null 2>&1
check_eq "keygen without a file name is a usage error (exit 2)" 2 "$?"
connstate keygen "$T_DIR/no-such-dir/x.cert" >/dev/null 2>&1
check_eq "a directory that does not exist: exit 1" 1 "$?"

done_testing
