#!/bin/sh
# nginx resolves the name in a proxy_pass *variable* at request time, through its own
# `resolver` (it does not read /etc/resolv.conf). Take the container's DNS server
# from /etc/resolv.conf: Docker's embedded DNS (127.0.0.11) or podman's aardvark-dns
# (the network's gateway). NGINX_RESOLVER overrides it.
set -eu
mkdir -p /tmp/nginx
ns=${NGINX_RESOLVER:-$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf)}
[ -n "$ns" ] || { echo "nginx-entrypoint: no nameserver in /etc/resolv.conf; set NGINX_RESOLVER" >&2; exit 1; }
case $ns in *:*) ns="[$ns]" ;; esac
echo "resolver $ns valid=5s ipv6=off;" > /tmp/nginx/resolver.conf
echo "nginx-entrypoint: resolver $ns" >&2
exec nginx -g 'daemon off;' "$@"
