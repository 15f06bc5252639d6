# libconnstate as a user links it: the shared library exports its API (connstate_*) and
# nothing else, needs no library its API does not use (no jansson), and a program built
# against include/connstate.h and -lconnstate alone links and runs.
. "$(dirname "$0")/../lib.sh"

so=$LIBDIR/libconnstate.so
check "lib/libconnstate.so exists" test -f "$so"

exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
internal=$(echo "$exported" | grep -v '^connstate_')
check "libconnstate.so exports only connstate_* symbols" test -z "$internal"
[ -z "$internal" ] && diag "exports: $(echo $exported)" ||
    diag "also exported ($(echo "$internal" | wc -l)): $(echo $internal | cut -c1-300)"
declared=$(grep -oE '\<connstate_[a-z_]+\(' "$ROOT/include/connstate.h" | tr -d '(' | sort -u)
check_eq "libconnstate.so exports every function connstate.h declares" \
    "$(echo $declared)" "$(echo "$exported" | grep '^connstate_' | tr '\n' ' ' | sed 's/ $//')"

ldd "$so" >"$T_DIR/ldd" 2>&1
check "ldd reads libconnstate.so" grep -q libzmq "$T_DIR/ldd"
check "libconnstate.so does not need libjansson" bash -c "! grep -q libjansson '$T_DIR/ldd'"

# A program that knows only the public header links against the shared library and runs.
cat >"$T_DIR/use.c" <<'EOF'
#include <stdio.h>
#include <string.h>

#include "connstate.h"

int main(void)
{
    connstate_sub_t *sub = connstate_sub_new("ipc:///nonexistent/p", "ipc:///nonexistent/c",
                                             NULL, NULL, NULL);
    if (!sub || connstate_sub_run(sub, 10) != 0 || connstate_sub_synced(sub))
        return 1;
    connstate_sub_destroy(&sub);
    printf("connstate %s\n", connstate_version());
    return sub == NULL ? 0 : 1;
}
EOF
san=
grep -q libasan "$T_DIR/ldd" && san="-fsanitize=address,undefined"
mkdir -p "$T_DIR/lib"
ln -s "$so" "$T_DIR/lib/libconnstate.so.0" # the soname the program records
cc -std=c11 $san -I"$ROOT/include" $(pkg-config --cflags libzmq libpq) -o "$T_DIR/use" \
    "$T_DIR/use.c" -L"$LIBDIR" -lconnstate 2>"$T_DIR/cc.err"
check "a program using only connstate.h links with -lconnstate" test $? -eq 0 ||
    sed 's/^/#   /' "$T_DIR/cc.err"
# With no supervisor there, connstate_sub_run returns after its timeout: it never blocks.
out=$(LD_LIBRARY_PATH=$T_DIR/lib timeout 10 "$T_DIR/use" 2>&1)
check_eq "... and runs against libconnstate.so without a supervisor (exit 0, at once)" 0 "$?"
check_eq "... and reports the version the CLI reports" "$(connstate --version)" "$out"

done_testing
