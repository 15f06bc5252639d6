# The man pages: one per program (connstate.1, connstate-supervisor.8, connstate-worker.8),
# installed by make install, rendered without warnings, and naming every option each
# program's --help lists (they are made from it).
. "$(dirname "$0")/../lib.sh"

inst=$T_DIR/inst
make -s -C "$ROOT" install DESTDIR="$inst" PREFIX=/usr BUILD="$BUILD" BIN="$BIN" LIBDIR="$LIBDIR" \
    >"$T_DIR/install.log" 2>&1
check_eq "make install succeeds" 0 $?
for page in man1/connstate.1 man8/connstate-supervisor.8 man8/connstate-worker.8; do
    file=$inst/usr/share/man/$page
    prog=$(basename "${page%.*}")
    check "make install installs $page" test -s "$file"
    LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$file" >"$T_DIR/$prog.txt" 2>"$T_DIR/$prog.warn"
    check_eq "man renders $page" 0 $?
    check "... without a warning" test ! -s "$T_DIR/$prog.warn"
    [ -s "$T_DIR/$prog.warn" ] && diag "$(head -5 "$T_DIR/$prog.warn")"
    missing=""
    for flag in $("$BIN/$prog" --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p'); do
        grep -q -- "^ *$flag\b" "$T_DIR/$prog.txt" || missing="$missing $flag"
    done
    check_eq "$page names every option of $prog --help" "" "$missing"
done
for cmd in "CONFIG CHECK" STATUS PLAN REFRESH WAIT QUERY INSPECT WATCH KEYGEN; do
    check "connstate.1 has a section for connstate ${cmd,,}" grep -q "^CONNSTATE $cmd$" "$T_DIR/connstate.txt"
done
# (the text as words: where man breaks its lines depends on the width it takes)
says() { tr -s ' \n' '  ' <"$T_DIR/connstate-supervisor.txt" | grep -q "$1"; }
check "connstate-supervisor.8 has its exit statuses and signals" \
    eval "says 'Exit status: 0 after SIGTERM' && says 'SIGHUP refreshes'"
done_testing
