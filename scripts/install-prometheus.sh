# Sourced by the test scripts that need promtool (test-api-conformance.sh, test-observability.sh).
# install_prometheus: installs Debian's `prometheus` package (promtool and the server) when
# promtool is missing, without letting the package start its server: it would listen on 9090,
# the registry's port. Needs SUDO set ("" as root). Failure is reported, not fatal: the caller
# checks `command -v promtool` and skips with a message.
install_prometheus() {
    command -v promtool >/dev/null && return 0
    local policy=/usr/sbin/policy-rc.d added_policy=""
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null; $SUDO chmod +x "$policy"; added_policy=1; fi
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
        || echo "apt-get install prometheus failed"
    [ -n "$added_policy" ] && $SUDO rm -f "$policy"
    command -v systemctl >/dev/null && $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
}
