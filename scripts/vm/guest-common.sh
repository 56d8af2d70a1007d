# shellcheck shell=bash
# Shared by the guest test drivers (test-guest.sh, test-virtio-blk.sh), which
# source it after defining say() and setting SELF_DIR, CACHE and FAILED=0.

# result NAME OK|FAIL|SKIP: one verdict line, counted by scripts/test-all.sh.
# Verdicts may come from the guest's serial console, which ends lines with CR.
result() {
    local v=${2//$'\r'/}
    echo "GUEST-RESULT $1 $v"
    # shellcheck disable=SC2034 # read by the sourcing script
    [ "$v" = FAIL ] && FAILED=1
    return 0
}

# These scripts run under `set -o pipefail`, where `... | grep -q` is a trap:
# grep leaves at its first match, the writer before it may die of SIGPIPE
# with more to write, and the pipeline then fails -- a found line reads as
# missing, a complaint as silence. The helpers below count (grep -c reads
# everything) instead.
#
# console_has FILE ERE: the guest's serial console (CR line ends) has a
# line matching ERE.
console_has() {
    [ "$(tr -d '\r' 2>/dev/null <"$1" | grep -acE -- "$2")" -gt 0 ]
}

# qemu_complained FILE...: a QEMU log says more than "terminating on signal"
# (missing files say nothing).
qemu_complained() {
    [ "$(cat -- "$@" 2>/dev/null | grep -avc 'terminating on signal')" -gt 0 ]
}

# provision_or_exit NAME: provision the VM cache, or report NAME as SKIP
# (packages cannot be fetched: exit 77, never a pass) or FAIL (exit 1) with
# the provisioner's reason. On success CACHE becomes an absolute path.
provision_or_exit() {
    local name=$1 err rc=0 reason
    err="$(mktemp)"
    "$SELF_DIR/provision.sh" --cache "$CACHE" --quiet 2>"$err" || rc=$?
    if [ $rc -ne 0 ]; then
        cat "$err"
        reason="$(grep -E '^provision: (skipped|error):' "$err" | tail -n 1)"
        rm -f "$err"
        if [ $rc -eq 77 ]; then
            say "skipped: the VM packages could not be fetched (${reason:-no reason given})"
            result "$name" SKIP
            exit 77
        fi
        say "provisioning failed (exit $rc): ${reason:-see above}"
        result "$name" FAIL
        exit 1
    fi
    rm -f "$err"
    CACHE="$(cd "$CACHE" && pwd)"
}

# guest_workdir NAME: WORK, a short temporary directory (unix socket paths are
# limited), and LOGS: KEEP_LOGS if set, else WORK/logs. On exit WORK is
# removed; without KEEP_LOGS the logs of a run that FAILED are first copied
# to CACHE/logs/NAME-<date>. Needs say(), CACHE, KEEP_LOGS, FAILED.
guest_workdir() {
    GUEST_WORKDIR_NAME=$1
    WORK="$(mktemp -d "/tmp/vpcie-$1.XXXXXX")"
    if [ -n "$KEEP_LOGS" ]; then
        mkdir -p "$KEEP_LOGS"
        LOGS="$(cd "$KEEP_LOGS" && pwd)"
    else
        LOGS="$WORK/logs"
        mkdir -p "$LOGS"
    fi
    trap guest_workdir_cleanup EXIT
    trap 'say interrupted; exit 130' INT TERM HUP
}

# shellcheck disable=SC2317 # invoked from the trap
guest_workdir_cleanup() {
    if [ -z "$KEEP_LOGS" ] && [ "$FAILED" = 1 ]; then
        local keep
        keep="$CACHE/logs/$GUEST_WORKDIR_NAME-$(date +%Y%m%d-%H%M%S)"
        mkdir -p "$keep" && cp -a "$LOGS/." "$keep/" && say "logs of the failed run kept in $keep"
    fi
    rm -rf "$WORK"
}
