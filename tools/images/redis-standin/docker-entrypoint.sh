#!/bin/sh
# Entrypoint of store-platform-test/redis-standin (a TEST STAND-IN for docker.io/library/redis,
# built from Debian's redis-server; written here, not copied).
#
# The official image's contract, honoured:
# - a first argument starting with "-" or ending in ".conf" means `redis-server <args>`;
# - started as root, it drops to the redis user (999) before running redis-server;
# - umask 0077 when the umask is the default 0022;
# - protected mode is off by default: the official image patches Redis's compiled default,
#   so a server without a config file accepts connections from other pods. Debian's build
#   keeps protected mode on, so it is turned off here the same way (unless a config file or
#   an explicit --protected-mode says otherwise).
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

if [ "$1" = 'redis-server' ]; then
	has_config=
	has_protected=
	for arg in "$@"; do
		case "$arg" in
			*.conf) has_config=1 ;;
			--protected-mode) has_protected=1 ;;
		esac
	done
	if [ -z "$has_config" ] && [ -z "$has_protected" ]; then
		set -- "$@" --protected-mode no
	fi
fi

exec "$@"
