# SPDX-License-Identifier: MIT
# bench/proxy/haproxy_cfg.sh — sourced by run.sh and budget.sh: HAProxy in TCP mode as its
# users configure a Unix-socket relay, its defaults otherwise (nbthread: one thread per CPU
# it may run on; no splicing unless asked).
#
#   haproxy_cfg FILE BIND TARGET [GLOBAL-LINE]   BIND: unix@PATH or HOST:PORT
haproxy_cfg() {
    cat >"$1" <<CFG
global
    maxconn 4096
    ${4:-}
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
listen proxy
    bind $2
    server echo unix@$3
CFG
}
